#!/usr/bin/env bash
# System test (issue 2, "Must show" 5): a 1 GiB upload and a 1 GiB download through the proxy
# with peak RSS (VmHWM) of the portcullis process under 64 MiB. Both body framings are used:
# upload with Content-Length (python streaming) and chunked (curl -T -), download with
# Content-Length and chunked (?bytes=N[&chunked=1] on the echo upstream). Then backpressure:
# a download to a client reading at 64 MiB/s and an upload (curl --data-binary @-, Expect:
# 100-continue) to a python upstream reading at 64 MiB/s; RSS must stay flat through all of it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 300
require_bin

START=$SECONDS
SIZE=${BIG_TRANSFER_BYTES:-1073741824}   # 1 GiB
RSS_LIMIT_KB=$((64 * 1024))

ECHO_PORT=$(free_port)
PX_PORT=$(free_port)
SLOW_PORT=$(free_port)   # a python upstream that reads request bodies slowly (test 5)
export ECHO_PORT PX_PORT SLOW_PORT
CFG="$WORKDIR/portcullis.yaml"
BASE="http://127.0.0.1:$PX_PORT/demo"
cat >"$CFG" <<'EOF'
workers: 2
access_log: off
listeners:
  - name: public
    listen: "127.0.0.1:${PX_PORT}"
limits:
  max_body_size: 2GiB
apis:
  - name: demo
    stage: demo
    routes:
      - { path: /upload, methods: [POST, PUT], upstream: backend }
      - { path: /download, methods: [GET], upstream: backend }
      - { path: /slow-upload, methods: [POST], upstream: slow }
upstreams:
  backend:
    endpoints: ["http://127.0.0.1:${ECHO_PORT}"]
  slow:
    endpoints: ["http://127.0.0.1:${SLOW_PORT}"]
EOF

cat >"$WORKDIR/slow_upstream.py" <<'EOF'
# One-connection-at-a-time HTTP/1.1 upstream that reads request bodies at ~64 MiB/s.
import socket, sys, time
port, rate = int(sys.argv[1]), 64 << 20
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(16)
while True:
    c, _ = srv.accept()
    f = c.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line: break
            length, chunked = 0, False
            while True:
                h = f.readline()
                if h in (b"\r\n", b"\n", b""): break
                k, _, v = h.decode("latin-1").partition(":")
                if k.strip().lower() == "content-length": length = int(v.strip())
                if k.strip().lower() == "transfer-encoding" and "chunked" in v.lower(): chunked = True
            got, t0 = 0, time.monotonic()
            def slow_read(n):
                global got
                while n > 0:
                    b = f.read(min(n, 65536))
                    if not b: raise EOFError
                    got += len(b); n -= len(b)
                    ahead = got / rate - (time.monotonic() - t0)
                    if ahead > 0: time.sleep(ahead)
            if chunked:
                while True:
                    size = int(f.readline().split(b";")[0], 16)
                    if size == 0:
                        while f.readline() not in (b"\r\n", b"\n", b""): pass
                        break
                    slow_read(size); f.readline()
            else:
                slow_read(length)
            body = ('{"body_bytes":%d}' % got).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except (EOFError, OSError, ValueError):
        pass
    finally:
        c.close()
EOF
python3 "$WORKDIR/slow_upstream.py" "$SLOW_PORT" >"$WORKDIR/slow_upstream.log" 2>&1 &
SLOW_PID=$!
PIDS+=("$SLOW_PID")
wait_port "$SLOW_PORT" "$SLOW_PID" 10 || { fail "slow upstream did not start"; cat "$WORKDIR/slow_upstream.log"; exit 1; }
start_echo "$ECHO_PORT" "$WORKDIR/echo.log"
start_proxy "$CFG" "$PX_PORT" "$WORKDIR/portcullis.log"
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$PROXY_PID/status"; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PROXY_PID/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN {if (s > 0) printf "%.0f", b / 1048576 / s; else printf "?"}'; }  # MiB/s
info "echo on :$ECHO_PORT, portcullis (pid $PROXY_PID) on :$PX_PORT; transfer size $SIZE bytes"
info "portcullis at start: VmRSS $(mib "$(rss)") MiB, VmHWM $(mib "$(hwm)") MiB"

# 1. Upload with Content-Length, streamed from python in 1 MiB writes; the echo reports body_bytes.
cat >"$WORKDIR/upload.py" <<'EOF'
import http.client, json, sys, time
port, size = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
chunk = bytes(1 << 20)
t = time.monotonic()
conn.putrequest("POST", "/demo/upload")
conn.putheader("Content-Type", "application/octet-stream")
conn.putheader("Content-Length", str(size))
conn.endheaders()
sent, err = 0, ""
try:
    while sent < size:
        n = min(len(chunk), size - sent)
        conn.send(chunk if n == len(chunk) else chunk[:n])
        sent += n
except OSError as e:
    err = repr(e)
resp = conn.getresponse()
body = resp.read()
secs = time.monotonic() - t
try:
    bb = json.loads(body)["body_bytes"]
except Exception:
    bb = "?"
    err += " response: " + body[:300].decode("utf-8", "replace")
print(resp.status, bb, sent, "%.3f" % secs, err)
EOF
read -r up_status up_bytes up_sent up_secs up_err < <(timeout 200 python3 "$WORKDIR/upload.py" "$PX_PORT" "$SIZE" 2>&1 || echo "000 ? 0 0 python-failed")
up_rate=$(rate "$SIZE" "$up_secs")
info "upload (Content-Length): status $up_status, sent $up_sent, echo body_bytes $up_bytes, ${up_secs}s, $up_rate MiB/s ${up_err:-}"
if [ "$up_status" = 200 ] && [ "$up_bytes" = "$SIZE" ]; then pass "1 GiB upload (Content-Length): 200, body_bytes = $SIZE, $up_rate MiB/s"
else fail "1 GiB upload (Content-Length): status $up_status, body_bytes $up_bytes (expected 200 and $SIZE) ${up_err:-}"; fi
info "after upload: VmHWM $(mib "$(hwm)") MiB"

# 2. Download with Content-Length.
read -r dl_code dl_size dl_time dl_speed < <(timeout 200 curl -sS -o /dev/null --max-time 180 \
    -w '%{http_code} %{size_download} %{time_total} %{speed_download}\n' "$BASE/download?bytes=$SIZE" || echo "000 0 0 0")
dl_rate=$(rate "$dl_size" "$dl_time")
info "download (Content-Length): status $dl_code, $dl_size bytes, ${dl_time}s, $dl_rate MiB/s"
if [ "$dl_code" = 200 ] && [ "$dl_size" = "$SIZE" ]; then pass "1 GiB download (Content-Length): 200, $dl_size bytes, $dl_rate MiB/s"
else fail "1 GiB download (Content-Length): status $dl_code, $dl_size bytes (expected 200 and $SIZE)"; fi
info "after download: VmHWM $(mib "$(hwm)") MiB"

# 3. Upload with chunked transfer encoding (curl -T - reads the pipe as it goes).
ch_up=$( { head -c "$SIZE" /dev/zero | timeout 200 curl -sS --max-time 180 -T - -X POST \
    -H 'Content-Type: application/octet-stream' -w '\n%{http_code} %{time_total}\n' "$BASE/upload" \
    | python3 -c '
import json, sys
data = sys.stdin.buffer.read().rsplit(b"\n", 2)
code, secs = data[-2].decode().split()
try: bb = json.loads(data[0])["body_bytes"]
except Exception: bb = "?"
print(code, bb, secs)'; } 2>&1 || echo "000 ? 0")
read -r cu_code cu_bytes cu_secs <<<"$ch_up"
cu_rate=$(rate "$SIZE" "$cu_secs")
info "upload (chunked): status $cu_code, echo body_bytes $cu_bytes, ${cu_secs}s, $cu_rate MiB/s"
if [ "$cu_code" = 200 ] && [ "$cu_bytes" = "$SIZE" ]; then pass "1 GiB upload (chunked): 200, body_bytes = $SIZE, $cu_rate MiB/s"
else fail "1 GiB upload (chunked): $ch_up (expected 200 and body_bytes $SIZE)"; fi

# 4. Download with chunked transfer encoding, counted with wc -c.
t0=${EPOCHREALTIME/./}
cd_size=$(timeout 200 curl -sS --max-time 180 "$BASE/download?bytes=$SIZE&chunked=1" | wc -c || echo 0)
cd_secs=$(awk -v us=$(( ${EPOCHREALTIME/./} - t0 )) 'BEGIN {printf "%.3f", us / 1e6}')
cd_rate=$(rate "$cd_size" "$cd_secs")
info "download (chunked): $cd_size bytes (wc -c), ${cd_secs}s, $cd_rate MiB/s"
if [ "$cd_size" = "$SIZE" ]; then pass "1 GiB download (chunked): $cd_size bytes, $cd_rate MiB/s"
else fail "1 GiB download (chunked): $cd_size bytes, expected $SIZE"; fi

# 5. Backpressure towards a slow reader: a download read by the client at 64 MiB/s, and an upload
#    read by a slow upstream (python, 64 MiB/s); a proxy that buffers instead of pausing the
#    fast side would grow by roughly the difference (hundreds of MiB).
SLOW=${SLOW_TRANSFER_BYTES:-268435456}   # 256 MiB, ~4 s each at 64 MiB/s
read -r sd_code sd_size sd_time < <(timeout 100 curl -sS -o /dev/null --max-time 60 --limit-rate 64M \
    -w '%{http_code} %{size_download} %{time_total}\n' "$BASE/download?bytes=$SLOW" || echo "000 0 0")
info "slow-reader download: status $sd_code, $sd_size bytes, ${sd_time}s, $(rate "$sd_size" "$sd_time") MiB/s; VmHWM $(mib "$(hwm)") MiB"
if [ "$sd_code" = 200 ] && [ "$sd_size" = "$SLOW" ]; then pass "download to a slow reader (64 MiB/s): 200, $sd_size bytes"
else fail "download to a slow reader: status $sd_code, $sd_size bytes (expected 200 and $SLOW)"; fi

read -r su_code su_size su_time < <(head -c "$SLOW" /dev/zero | timeout 100 curl -sS --max-time 60 -X POST \
    -H 'Content-Type: application/octet-stream' --data-binary @- \
    -w ' %{http_code} %{time_total}\n' -o - "$BASE/slow-upload" \
    | sed -E 's/^\{"body_bytes":([0-9]+)\} ([0-9]+) (.*)$/\2 \1 \3/' || echo "000 ? 0")
info "upload to a slow upstream: status $su_code, upstream got $su_size bytes, ${su_time}s, $(rate "$SLOW" "$su_time") MiB/s; VmHWM $(mib "$(hwm)") MiB"
if [ "$su_code" = 200 ] && [ "$su_size" = "$SLOW" ]; then pass "upload to a slow upstream (64 MiB/s): 200, upstream read $su_size bytes"
else fail "upload to a slow upstream: status $su_code, upstream read $su_size bytes (expected 200 and $SLOW)"; fi

# Peak RSS of the proxy over all the transfers.
peak=$(hwm)
info "portcullis now: VmRSS $(mib "$(rss)") MiB; peak VmHWM $(mib "$peak") MiB (limit $(mib $RSS_LIMIT_KB) MiB)"
if [ "$peak" -lt "$RSS_LIMIT_KB" ]; then pass "peak RSS (VmHWM) $(mib "$peak") MiB < 64 MiB"
else fail "peak RSS (VmHWM) $(mib "$peak") MiB >= 64 MiB"; fi
if kill -0 "$PROXY_PID" 2>/dev/null; then pass "portcullis still running"; else fail "portcullis died"; fi

echo "  figures: upload $up_rate MiB/s (Content-Length), $cu_rate MiB/s (chunked); download $dl_rate MiB/s (Content-Length), $cd_rate MiB/s (chunked); peak RSS $(mib "$peak") MiB"
info "took $((SECONDS - START))s"
finish
