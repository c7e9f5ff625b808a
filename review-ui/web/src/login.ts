import './style.css';

const form = document.getElementById('login') as HTMLFormElement;
const error = document.getElementById('error') as HTMLElement;
const submit = document.getElementById('submit') as HTMLButtonElement;

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  error.textContent = '';
  submit.disabled = true;
  const username = (document.getElementById('username') as HTMLInputElement).value;
  const password = (document.getElementById('password') as HTMLInputElement).value;
  fetch('/api/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  })
    .then(async (res) => {
      if (res.ok) {
        window.location.assign('/');
        return;
      }
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      error.textContent = body.error ?? `sign-in failed (${res.status})`;
    })
    .catch(() => {
      error.textContent = 'the server did not answer';
    })
    .finally(() => {
      submit.disabled = false;
    });
});
