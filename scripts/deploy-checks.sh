#!/usr/bin/env bash
# The deploy kit (deploy/) checked against the real binary, as far as this machine allows. Every
# check runs and prints one line, `ok: ...`, `FAIL: ...` (then what is wrong) or `skipped: ...`;
# the exit status is 1 when any failed.
#
#   unit         deploy/shopd.service passes `systemd-analyze verify` with ExecStart pointed at
#                the binary given (verify exits 0 on unknown keys and unparsable values, so any
#                "Unknown ..."/"Failed ..." line it prints fails the check), its offline security
#                review scores at most 2.0, and the binary accepts ExecStart's arguments
#   docker       deploy/Dockerfile's RUN holds the README's release build, and its builder's COPY
#                lines (less deploy/Dockerfile.dockerignore) bring every file that build reads:
#                the manifest, src/, the declared targets, what src/ includes from outside src/
#   kubernetes   deploy/kubernetes.yaml parses (every document); one workload with exactly one
#                replica, the data dir on a claimed volume, probes on the port the pod listens
#                on; the binary, started with the pod's environment (image ENV, ConfigMap,
#                Secret with a real JWT_SECRET) and the image's arguments, answers 200 on the
#                liveness and readiness paths
#   metrics      every metric named in deploy/grafana-dashboard.json's queries is in that
#                server's /metrics (histograms by their _bucket/_sum/_count series)
#   healthcheck  the Dockerfile's HEALTHCHECK command exits 0 against that server and 1 against
#                a port nobody listens on
#   caddy/nginx  `caddy validate` and `nginx -t` (with a throwaway certificate), when installed
# The image itself is not built here: that needs a Docker daemon and the base images.
#
# Needs python3 and curl (and systemd-analyze for the unit); installs its pinned Python package
# (PyYAML) into target/deploy-checks-venv.
#
#   scripts/deploy-checks.sh [path/to/shopd]     (default: target/debug/shopd)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/debug/shopd}"
[ -x "$bin" ] || { echo "deploy-checks.sh: no shopd binary at $bin" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
cd "$root"

venv="$root/target/deploy-checks-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/deploy-checks.requirements.txt
py="$venv/bin/python"

work="$(mktemp -d)"
server=""
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

passed=0 failed=0 skipped=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "skipped: $*"; skipped=$((skipped + 1)); }
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The Dockerfile, read once: its instructions by stage, the README's release build, and the
# files the build needs (written to $work/docker.json for the other checks).
read_dockerfile() {
  "$py" - "$work/docker.json" <<'PY'
import json, os, re, shlex, sys, tomllib

def instructions(text):
    out, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith("#") or (not s and not cur):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out

instrs = instructions(open("deploy/Dockerfile").read())
stages = []
for word, rest in instrs:
    if word == "FROM":
        parts = rest.split()
        name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
        stages.append({"image": parts[0], "name": name, "instrs": []})
    elif stages:
        stages[-1]["instrs"].append((word, rest))
runtime = stages[-1]

def exec_form(rest):
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None

env, entrypoint, cmd, healthcheck = {}, None, [], None
for word, rest in runtime["instrs"]:
    if word == "ENV":
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            env[key] = value
    elif word == "ENTRYPOINT":
        entrypoint = exec_form(rest)
    elif word == "CMD":
        cmd = exec_form(rest) or []
    elif word == "HEALTHCHECK":
        # Options first (--interval=30s ...), then CMD [...] or NONE.
        m = re.match(r"((?:--\S+\s+)*)(CMD|NONE)\s*(.*)", rest, re.S)
        healthcheck = {"form": m.group(2), "argv": exec_form(m.group(3))} if m else {"form": "?", "argv": None}

# The README's release build: its `cargo build --release ...` line, else the build half of
# its `cargo run --release ...` (the same profile and flags).
readme = open("README.md").read()
m = re.search(r"cargo build --release[^\n`#]*", readme)
if m:
    release, source = " ".join(m.group(0).split()), m.group(0).strip()
else:
    m = re.search(r"cargo run (--release[^\n`#]*)", readme)
    release = "cargo build " + " ".join(m.group(1).split()).split(" -- ")[0] if m else None
    source = m.group(0).strip() if m else None
runs = [(s["name"], " ".join(rest.split())) for s in stages for w, rest in s["instrs"] if w == "RUN"]
builder = next((name for name, run in runs if release and release in run), None)

# What `cargo build` reads: the manifest and lock file, every file of src/, build.rs, each
# declared target's file, and the files src/ includes from outside src/.
manifest = tomllib.load(open("Cargo.toml", "rb"))
needed = {"Cargo.toml": "the manifest", "Cargo.lock": "the lock file (--locked)"}
for d, _, files in os.walk("src"):
    for f in files:
        needed[os.path.join(d, f)] = "a source file"
build_rs = manifest.get("package", {}).get("build", "build.rs" if os.path.exists("build.rs") else None)
if build_rs:
    needed[build_rs] = "the build script"
defaults = {"bench": "benches", "test": "tests", "example": "examples", "bin": "src/bin"}
for kind, folder in defaults.items():
    for t in manifest.get(kind, []):
        needed[t.get("path", f"{folder}/{t['name']}.rs")] = f"the [[{kind}]] target {t['name']}"
includes = [
    (re.compile(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)'), "file"),
    (re.compile(r'env!\(\s*"CARGO_MANIFEST_DIR"\s*\)\s*,\s*"/?([^"]+)"'), "root"),
    (re.compile(r'include_dir!\(\s*"\$CARGO_MANIFEST_DIR/([^"]+)"\s*\)'), "root"),
    (re.compile(r'#\[folder\s*=\s*"([^"]+)"\s*\]'), "root"),
]
for d, _, files in os.walk("src"):
    for f in files:
        if not f.endswith(".rs"):
            continue
        source_file = os.path.join(d, f)
        text = open(source_file, encoding="utf-8").read()
        for rx, base in includes:
            for m in rx.finditer(text):
                p = os.path.normpath(os.path.join(d if base == "file" else ".", m.group(1)))
                if p.startswith("src/"):
                    continue
                found = [p] if os.path.isfile(p) else [os.path.join(r, x) for r, _, xs in os.walk(p) for x in xs]
                for q in found or [p]:
                    needed[q] = f"included by {source_file}"

json.dump({"stages": stages, "env": env, "entrypoint": entrypoint, "cmd": cmd, "healthcheck": healthcheck,
           "release": release, "release_source": source, "builder": builder, "needed": needed},
          open(sys.argv[1], "w"))
PY
}

check_unit() {
  if ! command -v systemd-analyze >/dev/null; then skip "unit: systemd-analyze not installed"; return; fi
  mkdir -p "$work/unit"
  local unit="$work/unit/shopd.service" out rc=0 bad
  # verify refuses an ExecStart binary that does not exist: point it at the one under test.
  sed -E "s#^ExecStart=/usr/local/bin/shopd( |\$)#ExecStart=$bin\\1#" deploy/shopd.service >"$unit"
  if ! grep -q "^ExecStart=$bin" "$unit"; then fail "unit: no ExecStart=/usr/local/bin/shopd line"; return; fi
  out="$(systemd-analyze verify --man=no "$unit" 2>&1)" || rc=$?
  bad="$(grep -i -E 'unknown|failed|invalid|ignoring|bad|refusing|not executable|missing|not found' <<<"$out" || true)"
  if [ "$rc" -ne 0 ] || [ -n "$bad" ]; then
    fail "unit: systemd-analyze verify (exit $rc) complains:"
    printf '%s\n' "$out" | sed 's/^/    /'
    return
  fi
  rc=0
  out="$(systemd-analyze security --offline=yes --threshold=20 "$unit" 2>&1)" || rc=$?
  local score
  score="$(grep -o 'Overall exposure level for shopd.service: [0-9.]*' <<<"$out" | grep -o '[0-9.]*$' || true)"
  if [ "$rc" -ne 0 ] || [ -z "$score" ]; then
    fail "unit: systemd-analyze security: exposure ${score:-?} is over 2.0 (or the review failed):"
    grep -E '^✗|Overall' <<<"$out" | sed 's/^/    /'
    return
  fi
  # The binary accepts ExecStart's arguments: clap rejects any unknown one before the --help at the end.
  local -a args
  read -r -a args <<<"$(sed -n 's/^ExecStart=[^ ]* *//p' deploy/shopd.service)"
  rc=0
  out="$("$bin" "${args[@]}" --help 2>&1 >/dev/null)" || rc=$?
  if [ "$rc" -ne 0 ]; then fail "unit: shopd refuses ExecStart's arguments (${args[*]}): $out"; return; fi
  ok "unit: systemd-analyze verify clean, security exposure $score, shopd accepts '${args[*]}'"
}

check_docker() {
  local out rc=0
  out="$("$py" - "$work/docker.json" <<'PY'
import json, os, re, sys
d = json.load(open(sys.argv[1]))
problems = []
if not d["release"]:
    problems.append("README.md has no `cargo build --release` or `cargo run --release` line")
elif not d["builder"]:
    problems.append(f"no RUN in deploy/Dockerfile runs the README's release build `{d['release']}`")
if len(d["stages"]) < 2:
    problems.append("not a multi-stage build")

def rx(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")

ignore_file = next((f for f in ("deploy/Dockerfile.dockerignore", ".dockerignore") if os.path.exists(f)), None)
patterns = []
for line in open(ignore_file).read().splitlines() if ignore_file else []:
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    negated = s.startswith("!")
    s = os.path.normpath(s.lstrip("!").strip()).lstrip("/")
    patterns.append((negated, rx(s)))

def ignored(path):
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for negated, r in patterns:
        if any(r.match(p) for p in prefixes):
            out = not negated
    return out

# Where the builder's COPY lines put each context path (a directory's contents go into dest).
stage = next((s for s in d["stages"] if s["name"] == d["builder"]), d["stages"][0] if d["stages"] else None)
copies, workdir = [], "/"
for word, rest in stage["instrs"] if stage else []:
    if word == "WORKDIR":
        workdir = os.path.normpath(os.path.join(workdir, rest))
    elif word == "RUN" and d["release"] and d["release"] in " ".join(rest.split()):
        break
    elif word == "COPY":
        args = [a for a in rest.split() if not a.startswith("--")]
        if any(a.startswith("--from") for a in rest.split()):
            continue
        *sources, dest = args
        into = dest.endswith("/") or len(sources) > 1
        dest = os.path.normpath(os.path.join(workdir, dest))
        for src in sources:
            src = os.path.normpath(src)
            if os.path.isdir(src):
                copies.append((src, dest))
            else:
                copies.append((src, os.path.join(dest, os.path.basename(src)) if into else dest))

def image_path(path):
    for src, dest in copies:
        if path == src or src == "." or path.startswith(src + "/"):
            rel = path if src == "." else path[len(src):].lstrip("/")
            return os.path.normpath(os.path.join(dest, rel)) if rel else dest
    return None

build_dir = workdir
for path, why in sorted(d["needed"].items()):
    if not os.path.exists(path):
        problems.append(f"{path} ({why}) does not exist in the repository")
    elif ignored(path):
        problems.append(f"{path} ({why}) is left out of the context by {ignore_file}")
    elif image_path(path) is None:
        problems.append(f"{path} ({why}) is not copied into the builder")
    elif image_path(path) != os.path.join(build_dir, path):
        problems.append(f"{path} ({why}) lands at {image_path(path)}, not {os.path.join(build_dir, path)}")
if problems:
    print("\n".join("    " + p for p in problems))
    sys.exit(1)
outside = sorted(p for p in d["needed"] if not p.startswith("src/"))
print(f"RUN has the README's release build `{d['release']}` (README: `{d['release_source']}`); "
      f"the builder gets src/ and {len(outside)} other files it needs ({', '.join(sorted({p.split('/')[0] for p in outside}))}), "
      f"none dropped by {ignore_file or 'a .dockerignore'}; the image is not built here")
PY
)" || rc=$?
  if [ "$rc" -ne 0 ]; then fail "docker: deploy/Dockerfile:"; printf '%s\n' "$out"; return; fi
  ok "docker: $out"
}

# Reads the manifest, writes the pod's environment and arguments (NUL-separated) and the probe
# paths for the server started below; prints the problems when the manifest is wrong.
read_kubernetes() {
  "$py" - "$work/docker.json" "$work" <<'PY'
import base64, json, os, sys, yaml
d = json.load(open(sys.argv[1]))
out_dir = sys.argv[2]
problems = []
try:
    docs = [x for x in yaml.safe_load_all(open("deploy/kubernetes.yaml")) if x is not None]
except yaml.YAMLError as e:
    print(f"    deploy/kubernetes.yaml does not parse: {e}")
    sys.exit(1)
for i, doc in enumerate(docs):
    if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion") or not doc.get("metadata", {}).get("name"):
        problems.append(f"document {i + 1} has no apiVersion, kind or metadata.name")
by_kind = {}
for doc in docs:
    if isinstance(doc, dict):
        by_kind.setdefault(doc.get("kind"), {})[doc.get("metadata", {}).get("name")] = doc
workloads = [x for k in ("StatefulSet", "Deployment", "ReplicaSet", "DaemonSet", "Pod") for x in by_kind.get(k, {}).values()]
if len(workloads) != 1:
    print(f"    {len(workloads)} workloads: want exactly one (the store has one writer)")
    sys.exit(1)
w = workloads[0]
kind, spec = w["kind"], w.get("spec", {})
if kind not in ("StatefulSet", "Deployment"):
    problems.append(f"the workload is a {kind}: want a StatefulSet or a Deployment with one replica")
if spec.get("replicas") != 1:
    problems.append(f"replicas is {spec.get('replicas')!r}: want exactly 1, written out (the store has one writer)")
if kind == "Deployment" and spec.get("strategy", {}).get("type") != "Recreate":
    problems.append("a Deployment needs strategy Recreate: a rolling update runs two pods on one store")
pod = spec.get("template", {}).get("spec", {})
containers = pod.get("containers", [])
c = next((x for x in containers if x.get("name") == "shopd"), containers[0] if len(containers) == 1 else None)
if c is None:
    print("    no container named shopd")
    sys.exit(1)
if pod.get("terminationGracePeriodSeconds", 30) < 31:
    problems.append("terminationGracePeriodSeconds under 31: shopd drains for up to 30 s after SIGTERM")

def lookup(kind, name, key=None):
    obj = by_kind.get(kind, {}).get(name)
    if obj is None:
        problems.append(f"the pod refers to {kind} {name}, which is not in the file")
        return {}
    values = dict(obj.get("data") or {})
    if kind == "Secret":
        values = {k: base64.b64decode(v).decode() for k, v in values.items()}
        values.update(obj.get("stringData") or {})
    return {k: str(v) for k, v in values.items()}

env = dict(d["env"])  # the image's ENV, then the pod's
for src in c.get("envFrom", []):
    if "configMapRef" in src:
        env.update(lookup("ConfigMap", src["configMapRef"]["name"]))
    if "secretRef" in src:
        env.update(lookup("Secret", src["secretRef"]["name"]))
for e in c.get("env", []):
    if "value" in e:
        env[e["name"]] = str(e["value"])
    elif "valueFrom" in e:
        ref = e["valueFrom"].get("configMapKeyRef") or e["valueFrom"].get("secretKeyRef")
        k = "ConfigMap" if "configMapKeyRef" in e["valueFrom"] else "Secret"
        env[e["name"]] = lookup(k, ref["name"]).get(ref["key"], "")

ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
listen = int(env.get("PORT", "3000"))
if listen not in ports.values():
    problems.append(f"shopd listens on {listen} (PORT) but the container ports are {sorted(ports.values())}")

def port_of(p):
    return ports.get(p) if isinstance(p, str) else p

probes = {}
for name in ("livenessProbe", "readinessProbe", "startupProbe"):
    probe = c.get(name)
    if probe is None:
        if name != "startupProbe":
            problems.append(f"no {name}")
        continue
    get = probe.get("httpGet")
    if not get:
        problems.append(f"{name} is not an httpGet")
        continue
    if port_of(get.get("port")) != listen:
        problems.append(f"{name} asks port {get.get('port')!r}, shopd listens on {listen}")
    probes[name] = get.get("path", "/")
for svc in by_kind.get("Service", {}).values():
    for p in svc.get("spec", {}).get("ports", []):
        if port_of(p.get("targetPort", p.get("port"))) != listen:
            problems.append(f"Service {svc['metadata']['name']} targets {p.get('targetPort')!r}, shopd listens on {listen}")

# The data dir is on a claimed volume.
data_dir = env.get("DATA_DIR", "data")
mounts = {m["mountPath"].rstrip("/"): m["name"] for m in c.get("volumeMounts", [])}
claimed = {v["metadata"]["name"] for v in spec.get("volumeClaimTemplates", [])}
claimed |= {v["name"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v}
if mounts.get(data_dir.rstrip("/")) not in claimed:
    problems.append(f"DATA_DIR {data_dir} is not a mount of a PersistentVolumeClaim")
if problems:
    print("\n".join("    " + p for p in problems))
    sys.exit(1)

# The image's entrypoint and cmd, or the pod's command and args.
argv = (c.get("command") or d["entrypoint"] or []) + (c.get("args") if "args" in c else ([] if c.get("command") else d["cmd"]))
with open(os.path.join(out_dir, "pod.env"), "w") as f:
    f.write("".join(f"{k}={v}\0" for k, v in sorted(env.items())))
with open(os.path.join(out_dir, "pod.args"), "w") as f:
    f.write("".join(a + "\0" for a in argv[1:]))
with open(os.path.join(out_dir, "probes"), "w") as f:
    f.write("".join(f"{k} {v}\n" for k, v in probes.items()))
print(f"{kind} with replicas 1, the data dir on a claim, probes on port {listen}: "
      + ", ".join(f"{k} {v}" for k, v in probes.items()))
PY
}

# The pod's environment with this machine's data dir, address and port, and a real JWT_SECRET
# in place of the Secret's placeholder (which production refuses, as it should).
pod_env() {
  local port="$1" line
  local -a out=()
  while IFS= read -r -d '' line; do
    case "$line" in DATA_DIR=* | HOST=* | PORT=* | JWT_SECRET=*) ;; *) out+=("$line") ;; esac
  done <"$work/pod.env"
  out+=("DATA_DIR=$work/data" "HOST=127.0.0.1" "PORT=$port" "JWT_SECRET=$jwt_secret")
  printf '%s\0' "${out[@]}"
}

check_kubernetes() {
  local out rc=0 port path code line
  out="$(read_kubernetes)" || rc=$?
  if [ "$rc" -ne 0 ]; then fail "kubernetes: deploy/kubernetes.yaml:"; printf '%s\n' "$out"; return; fi
  local -a env=() args=() as_written=()
  while IFS= read -r -d '' line; do args+=("$line"); done <"$work/pod.args"
  # The Secret's placeholder must not make a running shop: production refuses it (exit 2).
  while IFS= read -r -d '' line; do
    case "$line" in DATA_DIR=* | HOST=* | PORT=*) ;; *) as_written+=("$line") ;; esac
  done <"$work/pod.env"
  local placeholder="" refused=0 note=""
  placeholder="$(tr '\0' '\n' <"$work/pod.env" | sed -n 's/^JWT_SECRET=//p')"
  if [ "${#placeholder}" -lt 32 ]; then
    mkdir -p "$work/placeholder"
    env -i PATH="$PATH" "${as_written[@]}" DATA_DIR="$work/placeholder" HOST=127.0.0.1 PORT="$(free_port)" \
      timeout 20 "$bin" "${args[@]}" >"$work/placeholder.log" 2>&1 || refused=$?
    if [ "$refused" -ne 2 ]; then
      fail "kubernetes: the Secret's JWT_SECRET placeholder was not refused (exit $refused, want 2):"
      tail -3 "$work/placeholder.log" | sed 's/^/    /'
      return
    fi
    note=" (and its JWT_SECRET placeholder refused)"
  fi
  jwt_secret="$("$py" -c 'import secrets; print(secrets.token_urlsafe(48))')"
  port="$(free_port)"
  mkdir -p "$work/data"
  while IFS= read -r -d '' line; do env+=("$line"); done < <(pod_env "$port")
  env -i PATH="$PATH" "${env[@]}" "$bin" "${args[@]}" >"$work/server.log" 2>&1 &
  server=$!
  server_port="$port"
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  if ! kill -0 "$server" 2>/dev/null; then
    fail "kubernetes: shopd with the pod's environment did not start:"
    tail -5 "$work/server.log" | sed 's/^/    /'
    server=""
    return
  fi
  local problems=""
  while read -r probe path; do
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path" || true)"
    [ "$code" = 200 ] || problems+="    $probe GET $path answered $code, want 200"$'\n'
  done <"$work/probes"
  if [ -n "$problems" ]; then fail "kubernetes: probes:"; printf '%s' "$problems"; return; fi
  ok "kubernetes: $out, each 200 from shopd ${args[*]} with the pod's environment$note"
}

check_metrics() {
  if [ -z "$server" ]; then fail "metrics: no server to ask (see kubernetes)"; return; fi
  local out rc=0 token=""
  # Every labelled series shows once it has a value: a sign-in (a failed one) fills sign_ins_total,
  # the probes above filled the HTTP ones.
  curl -s -o /dev/null -X POST "http://127.0.0.1:$server_port/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"deploy-checks@example.com","password":"Not-the-password-1"}' || true
  token="$(sed -n 's/^METRICS_TOKEN=//p' < <(tr '\0' '\n' <"$work/pod.env"))"
  if ! curl -fsS "http://127.0.0.1:$server_port/metrics" ${token:+-H "Authorization: Bearer $token"} -o "$work/metrics.txt"; then
    fail "metrics: GET /metrics failed"
    return
  fi
  out="$("$py" - deploy/grafana-dashboard.json "$work/metrics.txt" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
problems = []
if dash.get("schemaVersion", 0) < 36:
    problems.append(f"schemaVersion {dash.get('schemaVersion')}: want 36 or later")
if not any(i.get("name") == "DS_PROMETHEUS" and i.get("pluginId") == "prometheus" for i in dash.get("__inputs", [])):
    problems.append("no DS_PROMETHEUS datasource input")

exprs = []
def walk(node, in_targets=False):
    if isinstance(node, dict):
        if in_targets and isinstance(node.get("expr"), str):
            exprs.append(node["expr"])
        if node.get("datasource", {}) not in ({}, None) and isinstance(node.get("datasource"), dict):
            uid = node["datasource"].get("uid")
            if node["datasource"].get("type") == "prometheus" and uid != "${DS_PROMETHEUS}":
                problems.append(f"a datasource uid {uid!r} instead of ${{DS_PROMETHEUS}}")
        for k, v in node.items():
            walk(v, in_targets or k == "targets")
    elif isinstance(node, list):
        for v in node:
            walk(v, in_targets)
walk(dash.get("panels", []))
variables = []
for var in dash.get("templating", {}).get("list", []):
    q = var.get("query")
    q = q.get("query") if isinstance(q, dict) else q
    if var.get("type") == "query" and isinstance(q, str):
        variables.append(q)
walk(dash.get("templating", {}))

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
            "atan2", "inf", "nan"}
def names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    found = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue  # 1e3, 5m
        if e[m.end():].lstrip().startswith("(") or m.group(0).lower() in KEYWORDS:
            continue  # a function or an operator
        found.add(m.group(0))
    return found

wanted = set()
for e in exprs:
    wanted |= names(e)
for q in variables:
    m = re.match(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,", q)
    if m:
        wanted.add(m.group(1))
    m = re.match(r"\s*query_result\((.*)\)\s*$", q, re.S)
    if m:
        wanted |= names(m.group(1))

samples, families = set(), {}
for line in open(sys.argv[2]):
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()[:4]
        families[name] = kind
    elif line.strip() and not line.startswith("#"):
        samples.add(re.match(r"[A-Za-z_:][\w:]*", line).group(0))
def served(name):
    if name in samples or name in families:
        return True
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return families.get(base) in ("histogram", "summary")
missing = sorted(n for n in wanted if not served(n))
if missing:
    problems.append("not in /metrics: " + ", ".join(missing))
if problems:
    print("\n".join("    " + p for p in problems))
    sys.exit(1)
print(f"the {len(exprs)} queries name {len(wanted)} metrics, all in /metrics: {', '.join(sorted(wanted))}")
PY
)" || rc=$?
  if [ "$rc" -ne 0 ]; then fail "metrics: deploy/grafana-dashboard.json:"; printf '%s\n' "$out"; return; fi
  ok "metrics: $out"
}

check_healthcheck() {
  if [ -z "$server" ]; then fail "healthcheck: no server to ask (see kubernetes)"; return; fi
  local -a argv=() env=() closed_env=()
  local line rc_live=0 rc_closed=0 out_live out_closed closed
  while IFS= read -r -d '' line; do argv+=("$line"); done < <("$py" - "$work/docker.json" "$bin" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
h = d["healthcheck"]
if not h or h["form"] != "CMD" or not h["argv"]:
    sys.exit(0)
argv = h["argv"]
# The image's binary is the one under test.
if d["entrypoint"] and argv[0] == d["entrypoint"][0]:
    argv[0] = sys.argv[2]
sys.stdout.write("".join(a + "\0" for a in argv))
PY
)
  if [ "${#argv[@]}" -eq 0 ]; then fail "healthcheck: deploy/Dockerfile has no HEALTHCHECK CMD [...] (exec form)"; return; fi
  while IFS= read -r -d '' line; do env+=("$line"); done < <(pod_env "$server_port")
  out_live="$(env -i PATH="$PATH" "${env[@]}" timeout 15 "${argv[@]}" 2>&1)" || rc_live=$?
  closed="$(free_port)"
  while IFS= read -r -d '' line; do closed_env+=("$line"); done < <(pod_env "$closed")
  out_closed="$(env -i PATH="$PATH" "${closed_env[@]}" timeout 15 "${argv[@]}" 2>&1)" || rc_closed=$?
  if [ "$rc_live" -ne 0 ] || [ "$rc_closed" -ne 1 ]; then
    fail "healthcheck: '${argv[*]:1}' exited $rc_live with shopd up (want 0) and $rc_closed with nothing on the port (want 1):"
    printf '%s\n' "$out_live" | head -2 | sed 's/^/    up: /'
    printf '%s\n' "$out_closed" | head -2 | sed 's/^/    down: /'
    return
  fi
  ok "healthcheck: '${argv[*]:1}' exits 0 with shopd up and 1 with nothing on the port"
}

check_caddy() {
  if ! command -v caddy >/dev/null; then skip "caddy: caddy not installed"; return; fi
  local out rc=0
  out="$(caddy validate --config deploy/Caddyfile --adapter caddyfile 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ]; then fail "caddy: caddy validate:"; printf '%s\n' "$out" | tail -5 | sed 's/^/    /'; return; fi
  ok "caddy: caddy validate accepts deploy/Caddyfile"
}

check_nginx() {
  if ! command -v nginx >/dev/null; then skip "nginx: nginx not installed"; return; fi
  if ! command -v openssl >/dev/null; then skip "nginx: openssl not installed (needed for a throwaway certificate)"; return; fi
  local n="$work/nginx" out rc=0
  mkdir -p "$n/tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$n/key.pem" -out "$n/cert.pem" -days 1 -subj /CN=shop.example.com 2>/dev/null
  sed -E -e "s#/etc/letsencrypt/live/[^/]+/fullchain\.pem#$n/cert.pem#" \
    -e "s#/etc/letsencrypt/live/[^/]+/privkey\.pem#$n/key.pem#" deploy/nginx.conf >"$n/shopd.conf"
  cat >"$n/nginx.conf" <<EOF
pid $n/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path $n/tmp/body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    include $n/shopd.conf;
}
EOF
  out="$(nginx -t -e stderr -p "$n" -c "$n/nginx.conf" 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ]; then fail "nginx: nginx -t:"; printf '%s\n' "$out" | sed 's/^/    /'; return; fi
  ok "nginx: nginx -t accepts deploy/nginx.conf (with a throwaway certificate)"
}

read_dockerfile
server_port=""
jwt_secret=""
check_unit
check_docker
check_kubernetes
check_metrics
check_healthcheck
stop_server
check_caddy
check_nginx
echo "deploy checks: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
