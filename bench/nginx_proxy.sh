# Sourced by the benchmarks: the nginx proxy_cache peer, configured once for all of them.
# nginx_proxy_conf DIR PORT UPSTREAM CACHE_DIR  writes DIR/nginx.conf: two workers, no access
# log, sendfile, proxy_cache of everything under /v2/ keyed by method, URI and Accept (manifests
# differ by Accept), with proxy_cache_lock so that concurrent misses make one upstream fetch.
nginx_proxy_conf() {
  local dir=$1 port=$2 upstream=$3 cache=$4
  cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 100000;
  proxy_cache_path $cache levels=1:2 keys_zone=blobs:10m max_size=100g inactive=1d use_temp_path=off;
  server {
    listen 127.0.0.1:$port;
    location /v2/ {
      proxy_pass http://$upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache blobs;
      proxy_cache_key \$request_method\$uri\$http_accept;
      proxy_cache_valid 200 1d;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 300s;
      proxy_cache_lock_age 300s;
      proxy_read_timeout 300s;
    }
  }
}
EOF
}
