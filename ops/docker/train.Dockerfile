# syntax=docker/dockerfile:1
# The learning loop's image (ops/k8s/base/learning-loop-cronjob.yaml runs `inkbus loop` in it): the serving image
# of the same commit plus ml/training, which the serving image leaves out. Retraining needs nothing the serving
# set lacks (torch, numpy, tqdm); the train extra's notebook tools stay out. `make image-train` builds it:
#   docker build -f ops/docker/train.Dockerfile --build-arg BASE=inkbus:TAG -t inkbus-train:TAG .
# BuildKit reads ops/docker/train.Dockerfile.dockerignore (instead of .dockerignore) for it: ml/training gets in.
ARG BASE=inkbus:dev
FROM ${BASE}
LABEL org.opencontainers.image.title="inkbus-train" \
      org.opencontainers.image.description="Inkbus learning loop: dataset snapshot, retrain, promote"
COPY ml/training /opt/venv/lib/python3.11/site-packages/ml/training
USER 10001:10001
ENTRYPOINT ["inkbus"]
CMD ["loop"]
