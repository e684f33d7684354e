# syntax=docker/dockerfile:1
# One serving image for every role: `inkbus edge|worker|feedback|bots|sink|migrate` (docs/DEPLOY.md says why).
# Training (`pip install -e '.[train]'`, GPUs, data) never enters it: ml/training is left out by .dockerignore.

# --- front-end packages of the drawing page (socket.io-client), exactly as web/package-lock.json pins them
FROM node:22.12.0-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- Python dependencies in a virtualenv that the runtime stage copies whole
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The serving runtime, chosen by measurement (docs/DEPLOY.md): ONNX Runtime, and no torch in the image. The GPU
# workers' image is built with --build-arg SERVING_RUNTIME=torch --build-arg TORCH_VARIANT=<a CUDA build of the
# PyTorch index>; torch's CPU wheel is the default variant (PyPI's Linux torch is the CUDA build, gigabytes).
ARG SERVING_RUNTIME=onnx
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
RUN if [ "${SERVING_RUNTIME}" = torch ]; then \
      pip install --index-url "${TORCH_INDEX_URL}" "torch==2.13.0+${TORCH_VARIANT}"; fi
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/serve.txt ./serve.txt
COPY foundation ./foundation
COPY inkbus ./inkbus
COPY bus ./bus
COPY producers ./producers
COPY workers ./workers
COPY web ./web
COPY chatbots ./chatbots
COPY tutor ./tutor
COPY ml ./ml
COPY observability ./observability
# The serving roles' extras at the versions of their lock (requirements/serve.txt): no training, bench or tests.
RUN pip install -c serve.txt '.[serve]' && pip check

# --- runtime: no compiler, no npm, no source tree; a non-root user
FROM python:3.11.11-slim-bookworm AS runtime
ARG SERVING_RUNTIME=onnx
LABEL org.opencontainers.image.title="inkbus" \
      org.opencontainers.image.description="Inkbus serving image: edge, worker, feedback, bots, sink" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 inkbus \
 && useradd --system --uid 10001 --gid inkbus --home-dir /app --shell /usr/sbin/nologin inkbus
COPY --from=build /opt/venv /opt/venv
COPY --from=web /src/web/node_modules /app/web/node_modules
# Both forms of the shipped model: the ONNX file serves, the TorchScript artifact's metadata answers /api/v1/model
COPY models/inknet.pt /app/models/inknet.pt
COPY models/inknet.onnx /app/models/inknet.onnx
COPY ops/docker/healthcheck.py /app/healthcheck.py
WORKDIR /app
# Settings' defaults point into a source checkout; in the image the paths are these. Listen on every interface:
# the container's network is the boundary. The progress store must be PostgreSQL (set INKBUS_DATABASE_URL).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    INKBUS_MODEL_PATH=/app/models/inknet.pt \
    INKBUS_ONNX_MODEL_PATH=/app/models/inknet.onnx \
    INKBUS_RUNTIME=${SERVING_RUNTIME} \
    INKBUS_NODE_MODULES_DIR=/app/web/node_modules \
    INKBUS_HOST=0.0.0.0 \
    INKBUS_METRICS_HOST=0.0.0.0 \
    INKBUS_DATABASE_URL=sqlite:////tmp/inkbus.db
USER 10001:10001
EXPOSE 8000 9108 9109
# The edge's liveness; other roles set INKBUS_HEALTHCHECK_URL (worker/sink metrics) or use `--queue` (Compose, k8s).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["python", "/app/healthcheck.py"]
ENTRYPOINT ["inkbus"]
CMD ["edge"]
