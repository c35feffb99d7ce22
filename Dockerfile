# One image for the API, the worker, the Stripe sandbox and the migrations; docker-compose.yml
# picks the program with `command`. tsx (a dev dependency) runs the TypeScript as it is.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
ENV NODE_ENV=production
USER node
EXPOSE 3000 12111
CMD ["node", "--import", "tsx", "src/worker.ts"]
