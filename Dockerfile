# The Lambda worker image: the `bootstrap` binary on Amazon Linux 2023 with ffmpeg and ffprobe.
#
#   docker build -t transflow-worker .
#
# Both stages are Amazon Linux 2023, so the binary links against the glibc it runs with.
# ffmpeg and ffprobe are the static GPL release builds of John Van Sickle
# (https://johnvansickle.com/ffmpeg/), checked against their published MD5; Amazon Linux
# packages no ffmpeg. Set FFMPEG_URL to use another static build.

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
RUN cargo build --release --locked -p transflow-cli --bin bootstrap \
    && cp target/release/bootstrap /bootstrap

FROM public.ecr.aws/amazonlinux/amazonlinux:2023 AS ffmpeg
ARG TARGETARCH=amd64
ARG FFMPEG_URL=https://johnvansickle.com/ffmpeg/releases/ffmpeg-release-${TARGETARCH}-static.tar.xz
RUN dnf install -y --setopt=install_weak_deps=False tar xz && dnf clean all
RUN curl -sSfL -o /tmp/ffmpeg.tar.xz "${FFMPEG_URL}" \
    && curl -sSfL -o /tmp/ffmpeg.tar.xz.md5 "${FFMPEG_URL}.md5" \
    && (cd /tmp && sed 's/ .*/  ffmpeg.tar.xz/' ffmpeg.tar.xz.md5 | md5sum -c -) \
    && mkdir /ffmpeg && tar -xJf /tmp/ffmpeg.tar.xz -C /ffmpeg --strip-components=1 \
    && /ffmpeg/ffmpeg -version | head -1

FROM public.ecr.aws/lambda/provided:al2023
COPY --from=ffmpeg /ffmpeg/ffmpeg /ffmpeg/ffprobe /usr/local/bin/
COPY --from=build /bootstrap ${LAMBDA_RUNTIME_DIR}/bootstrap
# Only /tmp is writable in Lambda: job workspaces and the compiled-template cache live there.
ENV TRANSFLOW_DATA_DIR=/tmp/transflow
# The provided runtime runs ${LAMBDA_RUNTIME_DIR}/bootstrap; the handler name is unused.
CMD ["transflow"]
