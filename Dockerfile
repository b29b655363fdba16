# The Lambda worker image: the `bootstrap` binary on Amazon Linux 2023 with ffmpeg and ffprobe.
#
#   docker build -t transflow-worker .
#
# Both stages are Amazon Linux 2023, so the binary links against the glibc it runs with.
# ffmpeg and ffprobe are the static build pinned in tools/ffmpeg.lock (FFmpeg 7.0.2, linux/amd64
# only), installed by scripts/install-ffmpeg.sh: the same script and SHA-256s that put the
# binaries the tests run in .tools/ffmpeg-pinned/. Amazon Linux packages no ffmpeg. See
# docs/deploy.md, "Which ffmpeg".

ARG RUST_VERSION=1.95.0

FROM public.ecr.aws/amazonlinux/amazonlinux:2023 AS build
ARG RUST_VERSION
RUN dnf install -y --setopt=install_weak_deps=False gcc gcc-c++ make cmake perl tar gzip xz \
    && dnf clean all
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}"
ENV PATH="/root/.cargo/bin:${PATH}"
WORKDIR /src
COPY . .
# transflow-confine, the exec helper every ffmpeg and ffprobe starts through, sits beside
# bootstrap, where the worker looks for it.
RUN cargo build --release --locked -p transflow-cli --bin bootstrap -p transflow-confine --bin transflow-confine \
    && cp target/release/bootstrap target/release/transflow-confine /

FROM public.ecr.aws/amazonlinux/amazonlinux:2023 AS ffmpeg
RUN dnf install -y --setopt=install_weak_deps=False python3-pip unzip && dnf clean all
COPY scripts/install-ffmpeg.sh /pin/scripts/
COPY tools/ffmpeg.lock /pin/tools/
RUN bash /pin/scripts/install-ffmpeg.sh /ffmpeg

FROM public.ecr.aws/lambda/provided:al2023
COPY --from=ffmpeg /ffmpeg/ffmpeg /ffmpeg/ffprobe /usr/local/bin/
COPY --from=build /bootstrap /transflow-confine ${LAMBDA_RUNTIME_DIR}/
# Only /tmp is writable in Lambda: job workspaces (/tmp/transflow/work) and the compiled-template
# cache (/tmp/transflow/cache) live there, side by side: the cache is never under a workspace.
ENV TRANSFLOW_DATA_DIR=/tmp/transflow
# The provided runtime runs ${LAMBDA_RUNTIME_DIR}/bootstrap; the handler name is unused.
CMD ["transflow"]
