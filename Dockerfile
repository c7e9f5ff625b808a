# One image for every stage; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:ui --if-present
ENV NODE_ENV=production
ENTRYPOINT ["node", "--max-semi-space-size=64", "bin/fraudstream.js"]
