"""The one settings object.

Every setting is an environment variable (optionally from a ``.env`` file); ``example.env`` beside this
module lists each one with its default, and ``docs/configuration.md`` explains them.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from starlette.config import Config

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 1080
    data_dir: Path = Path("data")
    upload_dir: Path = Path("data/uploads")
    derivatives_dir: Path = Path("data/derivatives")
    database_url: str = "sqlite:///data/tusmedia.db"
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_prefix: str = "uploads/"
    s3_derivatives_prefix: str = "derivatives/"
    s3_region: str = ""
    s3_part_size: int = 8 * MIB
    sqlite_busy_timeout_seconds: float = 30.0
    tus_base_path: str = "/files/"
    max_file_size: int = 500 * MIB
    max_metadata_size: int = 16 * 1024
    redis_url: str = ""
    broker_url: str = ""
    rabbitmq_consumer_timeout_seconds: float = 1800.0
    queue_namespace: str = "tusmedia"
    media_worker_concurrency: int = 2
    thumbnail_sizes: tuple[int, ...] = (256, 1024)
    web_version_size: int = 2048
    derivative_format: str = "auto"
    store_gps: bool = False
    allowed_types: tuple[str, ...] = ("image/*", "video/*", "audio/*")
    keep_refused_files: bool = True
    media_processing_delay_seconds: float = 0.0
    media_processing_delay_names: tuple[str, ...] = ("*",)
    max_image_pixels: int = 100_000_000
    media_job_time_limit_seconds: int = 300
    media_niceness: int = 10
    media_max_retries: int = 3
    media_lease_seconds: float = 60.0
    lock_wait_seconds: float = 5.0
    network_timeout_seconds: float = 60.0
    shutdown_grace_seconds: float = 10.0
    recovery_interval_seconds: float = 60.0
    recovery_queued_after_seconds: float = 600.0
    upload_expiration_seconds: float = 86400.0
    cleanup_interval_seconds: float = 300.0
    cors_allow_origins: tuple[str, ...] = ("*",)
    cors_extra_headers: tuple[str, ...] = ()
    trust_proxy_headers: bool = False
    relative_location: bool = False
    log_level: str = "info"
    log_format: str = "text"
    ready_min_free_bytes: int = 100 * MIB
    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"
    allow_anonymous: bool = False
    secret_key: str = ""
    signed_url_ttl_seconds: float = 3600.0
    jwt_secret: str = ""
    jwt_public_key: str = ""
    jwt_algorithms: tuple[str, ...] = ()
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_leeway_seconds: float = 30.0
    jwt_user_claim: str = "sub"
    jwt_admin_claim: str = "role"
    jwt_admin_value: str = "admin"
    user_quota_bytes: int = 0
    user_max_unfinished: int = 0
    pre_create_hook_url: str = ""
    pre_create_hook_timeout_seconds: float = 5.0
    pre_create_hook_fail_open: bool = False
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = ""
    webhook_max_age_seconds: float = 86400.0
    webhook_min_backoff_seconds: float = 1.0
    webhook_max_backoff_seconds: float = 3600.0
    webhook_timeout_seconds: float = 10.0
    event_stream_heartbeat_seconds: float = 15.0

    @property
    def uses_jwt(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key)

    @property
    def uses_s3(self) -> bool:
        """Upload bytes in an S3-compatible bucket instead of UPLOAD_DIR."""
        return bool(self.s3_bucket)

    @property
    def spool_dir(self) -> Path:
        """Where S3 parts are gathered on local disk before they are sent."""
        return self.data_dir / "spool"

    @property
    def local_store_dir(self) -> Path:
        """The local folder the upload store fills: UPLOAD_DIR, or with S3 the spool of parts."""
        return self.spool_dir if self.uses_s3 else self.upload_dir

    @property
    def embedded_worker(self) -> bool:
        """With no broker configured, the server runs the media and webhook actors itself, in a child
        process (``workers.embedded``)."""
        return not self.broker_url


def _sizes(value: str) -> tuple[int, ...]:
    sizes = tuple(sorted({int(part) for part in value.split(",") if part.strip()}))
    if not sizes or sizes[0] <= 0:
        raise ValueError(f"THUMBNAIL_SIZES must list positive pixel sizes, got {value!r}")
    return sizes


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _webhook_secret(secret: str, urls: str) -> str:
    """Required with WEBHOOK_URLS: a Standard Webhooks secret, ``whsec_`` and base64 of 16 to 64 bytes."""
    if not urls.strip():
        return secret
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        key = b""
    if not secret.startswith("whsec_") or not 16 <= len(key) <= 64:
        raise ValueError(
            "WEBHOOK_URLS is set, so WEBHOOK_SECRET must be a whsec_ secret (whsec_ and base64 of 16 to 64 random "
            "bytes, e.g. python -c \"import base64,os;print('whsec_'+base64.b64encode(os.urandom(24)).decode())\")"
        )
    return secret


def _base_path(value: str) -> str:
    return "/" + value.strip("/") + "/"


def load_settings(env_file: str | os.PathLike[str] | None = ".env", environ: dict[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment) and an optional env file."""
    readable_env_file = Path(env_file) if env_file is not None and Path(env_file).is_file() else None
    config = Config(readable_env_file, environ=os.environ if environ is None else environ)
    defaults = Settings()

    data_dir = Path(config("DATA_DIR", default=str(defaults.data_dir)))
    redis_url = config("REDIS_URL", default="")
    return Settings(
        host=config("HOST", default=defaults.host),
        port=config("PORT", cast=int, default=defaults.port),
        data_dir=data_dir,
        upload_dir=Path(config("UPLOAD_DIR", default=str(data_dir / "uploads"))),
        derivatives_dir=Path(config("DERIVATIVES_DIR", default=str(data_dir / "derivatives"))),
        database_url=config("DATABASE_URL", default=f"sqlite:///{data_dir / 'tusmedia.db'}"),
        s3_bucket=config("S3_BUCKET", default=defaults.s3_bucket),
        s3_endpoint_url=config("S3_ENDPOINT_URL", default=defaults.s3_endpoint_url),
        s3_prefix=config("S3_PREFIX", default=defaults.s3_prefix),
        s3_derivatives_prefix=config("S3_DERIVATIVES_PREFIX", default=defaults.s3_derivatives_prefix),
        s3_region=config("S3_REGION", default=defaults.s3_region),
        s3_part_size=config("S3_PART_SIZE", cast=int, default=defaults.s3_part_size),
        sqlite_busy_timeout_seconds=config(
            "SQLITE_BUSY_TIMEOUT", cast=float, default=defaults.sqlite_busy_timeout_seconds
        ),
        tus_base_path=_base_path(config("TUS_BASE_PATH", default=defaults.tus_base_path)),
        max_file_size=config("MAX_FILE_SIZE", cast=int, default=defaults.max_file_size),
        max_metadata_size=config("MAX_METADATA_SIZE", cast=int, default=defaults.max_metadata_size),
        redis_url=redis_url,
        broker_url=config("BROKER_URL", default=redis_url),
        rabbitmq_consumer_timeout_seconds=config(
            "RABBITMQ_CONSUMER_TIMEOUT", cast=float, default=defaults.rabbitmq_consumer_timeout_seconds
        ),
        queue_namespace=config("QUEUE_NAMESPACE", default=defaults.queue_namespace),
        media_worker_concurrency=config(
            "MEDIA_WORKER_CONCURRENCY", cast=int, default=defaults.media_worker_concurrency
        ),
        thumbnail_sizes=_sizes(config("THUMBNAIL_SIZES", default="256,1024")),
        web_version_size=config("WEB_VERSION_SIZE", cast=int, default=defaults.web_version_size),
        derivative_format=_choice(
            "DERIVATIVE_FORMAT",
            config("DERIVATIVE_FORMAT", default=defaults.derivative_format),
            ("auto", "jpeg", "webp"),
        ),
        store_gps=config("STORE_GPS", cast=bool, default=defaults.store_gps),
        allowed_types=_names(config("ALLOWED_TYPES", default=",".join(defaults.allowed_types))),
        keep_refused_files=config("KEEP_REFUSED_FILES", cast=bool, default=defaults.keep_refused_files),
        media_processing_delay_seconds=config(
            "MEDIA_PROCESSING_DELAY", cast=float, default=defaults.media_processing_delay_seconds
        ),
        media_processing_delay_names=_names(config("MEDIA_PROCESSING_DELAY_NAMES", default="*")),
        max_image_pixels=config("MAX_IMAGE_PIXELS", cast=int, default=defaults.max_image_pixels),
        media_job_time_limit_seconds=config(
            "MEDIA_JOB_TIME_LIMIT", cast=int, default=defaults.media_job_time_limit_seconds
        ),
        media_niceness=config("MEDIA_NICENESS", cast=int, default=defaults.media_niceness),
        media_max_retries=config("MEDIA_MAX_RETRIES", cast=int, default=defaults.media_max_retries),
        media_lease_seconds=config("MEDIA_LEASE", cast=float, default=defaults.media_lease_seconds),
        lock_wait_seconds=config("LOCK_WAIT", cast=float, default=defaults.lock_wait_seconds),
        network_timeout_seconds=config("NETWORK_TIMEOUT", cast=float, default=defaults.network_timeout_seconds),
        shutdown_grace_seconds=config("SHUTDOWN_GRACE", cast=float, default=defaults.shutdown_grace_seconds),
        recovery_interval_seconds=config("RECOVERY_INTERVAL", cast=float, default=defaults.recovery_interval_seconds),
        recovery_queued_after_seconds=config(
            "RECOVERY_QUEUED_AFTER", cast=float, default=defaults.recovery_queued_after_seconds
        ),
        upload_expiration_seconds=config("UPLOAD_EXPIRATION", cast=float, default=defaults.upload_expiration_seconds),
        cleanup_interval_seconds=config("CLEANUP_INTERVAL", cast=float, default=defaults.cleanup_interval_seconds),
        cors_allow_origins=_names(config("CORS_ALLOW_ORIGINS", default="*")),
        cors_extra_headers=_names(config("CORS_ALLOW_HEADERS", default="")),
        trust_proxy_headers=config("TRUST_PROXY_HEADERS", cast=bool, default=defaults.trust_proxy_headers),
        relative_location=config("RELATIVE_LOCATION", cast=bool, default=defaults.relative_location),
        log_level=config("LOG_LEVEL", default=defaults.log_level),
        log_format=_choice("LOG_FORMAT", config("LOG_FORMAT", default=defaults.log_format), ("text", "json")),
        ready_min_free_bytes=config("READY_MIN_FREE_BYTES", cast=int, default=defaults.ready_min_free_bytes),
        worker_metrics_port=config("WORKER_METRICS_PORT", cast=int, default=defaults.worker_metrics_port),
        worker_metrics_host=config("WORKER_METRICS_HOST", default=defaults.worker_metrics_host),
        allow_anonymous=config("ALLOW_ANONYMOUS", cast=bool, default=defaults.allow_anonymous),
        secret_key=config("SECRET_KEY", default=defaults.secret_key),
        signed_url_ttl_seconds=config("SIGNED_URL_TTL", cast=float, default=defaults.signed_url_ttl_seconds),
        jwt_secret=config("JWT_SECRET", default=defaults.jwt_secret),
        jwt_public_key=config("JWT_PUBLIC_KEY", default=defaults.jwt_public_key),
        jwt_algorithms=_names(config("JWT_ALGORITHMS", default="")),
        jwt_issuer=config("JWT_ISSUER", default=defaults.jwt_issuer),
        jwt_audience=config("JWT_AUDIENCE", default=defaults.jwt_audience),
        jwt_leeway_seconds=config("JWT_LEEWAY", cast=float, default=defaults.jwt_leeway_seconds),
        jwt_user_claim=config("JWT_USER_CLAIM", default=defaults.jwt_user_claim),
        jwt_admin_claim=config("JWT_ADMIN_CLAIM", default=defaults.jwt_admin_claim),
        jwt_admin_value=config("JWT_ADMIN_VALUE", default=defaults.jwt_admin_value),
        user_quota_bytes=config("USER_QUOTA_BYTES", cast=int, default=defaults.user_quota_bytes),
        user_max_unfinished=config("USER_MAX_UNFINISHED", cast=int, default=defaults.user_max_unfinished),
        pre_create_hook_url=config("PRE_CREATE_HOOK_URL", default=defaults.pre_create_hook_url),
        pre_create_hook_timeout_seconds=config(
            "PRE_CREATE_HOOK_TIMEOUT", cast=float, default=defaults.pre_create_hook_timeout_seconds
        ),
        pre_create_hook_fail_open=config(
            "PRE_CREATE_HOOK_FAIL_OPEN", cast=bool, default=defaults.pre_create_hook_fail_open
        ),
        webhook_urls=_names(config("WEBHOOK_URLS", default="")),
        webhook_secret=_webhook_secret(config("WEBHOOK_SECRET", default=""), config("WEBHOOK_URLS", default="")),
        webhook_max_age_seconds=config("WEBHOOK_MAX_AGE", cast=float, default=defaults.webhook_max_age_seconds),
        webhook_min_backoff_seconds=config(
            "WEBHOOK_MIN_BACKOFF", cast=float, default=defaults.webhook_min_backoff_seconds
        ),
        webhook_max_backoff_seconds=config(
            "WEBHOOK_MAX_BACKOFF", cast=float, default=defaults.webhook_max_backoff_seconds
        ),
        webhook_timeout_seconds=config("WEBHOOK_TIMEOUT", cast=float, default=defaults.webhook_timeout_seconds),
        event_stream_heartbeat_seconds=config(
            "EVENT_STREAM_HEARTBEAT", cast=float, default=defaults.event_stream_heartbeat_seconds
        ),
    )
