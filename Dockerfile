FROM node:20-bookworm-slim AS web
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
WORKDIR /srv/sharpeyes
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY app/ app/
COPY migrations/ migrations/
COPY gisdata/ gisdata/
COPY --from=web /src/app/web/dist app/web/dist
RUN pip install --no-cache-dir -c constraints.txt -e ".[analysis]"
EXPOSE 8000
CMD ["sharpeyes", "serve"]
