"""Settings from the environment, as a container gets them."""
import os

SECRET_KEY = os.environ.get("POLLS_SECRET_KEY", "insecure-development-key-do-not-use-in-production")
DEBUG = os.environ.get("POLLS_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("POLLS_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "polls",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "polls.urls"
WSGI_APPLICATION = "polls.wsgi.application"

# PostgreSQL by default; POLLS_DB_ENGINE=mysql for MariaDB (the compose
# file's `mariadb` profile).
ENGINE = os.environ.get("POLLS_DB_ENGINE", "postgresql")
DATABASES = {
    "default": {
        "ENGINE": f"django.db.backends.{ENGINE}",
        "NAME": os.environ.get("POLLS_DB_NAME", "polls"),
        "USER": os.environ.get("POLLS_DB_USER", {"mysql": "polls"}.get(ENGINE, "postgres")),
        "PASSWORD": os.environ.get("POLLS_DB_PASSWORD", ""),
        "HOST": os.environ.get("POLLS_DB_HOST", "db"),
        "PORT": os.environ.get("POLLS_DB_PORT", {"mysql": "3306"}.get(ENGINE, "5432")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = []
USE_TZ = True
TIME_ZONE = "UTC"
LOGGING = {
    "version": 1,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}
