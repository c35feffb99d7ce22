# One image for the worker and the Stripe sandbox (and the API once it exists).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
ENV NODE_ENV=production
CMD ["npx", "tsx", "src/worker.ts"]
