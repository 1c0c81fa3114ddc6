# Sourced by setup.sh and demo.sh: settings for running on this machine over plain HTTP. DEBUG stays off
# (as in production) unless DJANGO_DEBUG=1 is exported; the secret key is generated once per checkout
# and kept in var/ (never committed). Whatever is already in the environment wins.
mkdir -p var
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  if [ ! -s var/secret-key ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(64))' > var/secret-key)
  fi
  DJANGO_SECRET_KEY=$(cat var/secret-key)
  export DJANGO_SECRET_KEY
fi
# The audit checkpoints' HMAC key (apps/audit/checkpoints.py): outside the database, kept in var/audit/ on
# this machine (the one place a local key is made; DEBUG processes not started from here read the same file);
# production sets RTCC_AUDIT_CHECKPOINT_KEY from its own secret store.
if [ -z "${RTCC_AUDIT_CHECKPOINT_KEY:-}" ]; then
  mkdir -p var/audit
  if [ ! -s var/audit/checkpoint.key ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(48))' > var/audit/checkpoint.key)
  fi
  RTCC_AUDIT_CHECKPOINT_KEY=$(cat var/audit/checkpoint.key)
  export RTCC_AUDIT_CHECKPOINT_KEY
fi
export DJANGO_ALLOWED_HOSTS=${DJANGO_ALLOWED_HOSTS:-localhost,127.0.0.1,[::1]${DEMO_HOST:+,$DEMO_HOST}}
# Plain HTTP on a local port: no redirect to https://, no Secure-only cookies, no HSTS.
export DJANGO_SECURE_SSL_REDIRECT=${DJANGO_SECURE_SSL_REDIRECT:-0}
export DJANGO_SECURE_COOKIES=${DJANGO_SECURE_COOKIES:-0}
export DJANGO_SECURE_HSTS_SECONDS=${DJANGO_SECURE_HSTS_SECONDS:-0}
# The demo city's app (apps.demo: load_demo_city, simulate_city, the simulated cameras' routes); production
# settings leave it out unless RTCC_DEMO=1.
export RTCC_DEMO=${RTCC_DEMO:-1}
