# One recipe for every Python service. Build with, for example:
#   docker build -f infra/docker/service.Dockerfile --build-arg PACKAGES="services/threading" \
#     --build-arg MODULE=inbox_threading .
FROM python:3.11-slim AS build
WORKDIR /src
COPY constraints.txt ./
RUN python -m venv /venv && /venv/bin/pip install -q -c constraints.txt hatchling grpcio-tools mypy-protobuf
COPY proto ./proto
COPY libs ./libs
COPY services ./services
RUN /venv/bin/python libs/contracts/generate.py
ARG PACKAGES
RUN /venv/bin/pip install -q -c constraints.txt --no-build-isolation \
      libs/contracts libs/runtime libs/events libs/channel-sdk libs/language ${PACKAGES}

FROM python:3.11-slim
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 LOG_JSON=true BIND_HOST=0.0.0.0 DATA_DIR=/data
ARG MODULE
ENV MODULE=${MODULE}
# /keys: where the api-keys service writes the services' own keys (a named volume takes this owner).
RUN useradd --system --home /data inbox && mkdir -p /data /keys && chown inbox /data /keys
USER inbox
VOLUME /data
CMD ["sh", "-c", "exec python -m $MODULE"]
