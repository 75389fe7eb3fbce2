// k8s-manifest.mjs MANIFEST HERD - the checks of tests/sh/kubernetes.sh
// on examples/kubernetes.yaml:
//  1. every document against Kubernetes' schema: kubernetes-models' ajv
//     validators (made from the API's OpenAPI document), and no field the
//     API does not know (the property lists of its type declarations: the
//     API server's strict field validation, which the validators skip);
//  2. the numbers agree: the container runs `herd run`, its probes GET
//     /readyz and /healthz on the --metrics port (a named containerPort),
//     which Prometheus' annotations name too, terminationGracePeriodSeconds
//     covers preStop and --kill-timeout, the workers' --max-memory fits the
//     memory limit, the Service reaches the --listen port...;
//  3. herd runs that command line (addresses made 127.0.0.1:0, the app a
//     server.js on fd 3), and the probes' GETs get what the kubelet
//     wants; SIGTERM stops it, exit 0, well within the grace period.
// Prints one line per check; exits 0, 1 (a check failed) or 77 (no YAML
// parser).
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import http from "node:http";
import { spawn, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const [manifestPath, herdArg] = process.argv.slice(2);
const herdBin = herdArg && path.resolve(herdArg);
const here = path.dirname(fileURLToPath(import.meta.url));
const nm = path.join(here, "node_modules");
const failures = [];
const fail = (msg) => failures.push(msg);
const say = (msg) => console.log(msg);

// ---- the documents -------------------------------------------------------
async function loadDocs(file) {
  const text = fs.readFileSync(file, "utf8");
  try {
    const YAML = await import("yaml");
    return YAML.parseAllDocuments(text).map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS();
    });
  } catch (e) {
    if (e.code !== "ERR_MODULE_NOT_FOUND") throw e;
  }
  try {
    const out = execFileSync("python3", ["-c",
      "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))", file],
      { stdio: ["ignore", "pipe", "pipe"] });
    return JSON.parse(out);
  } catch (e) {
    console.log("skip: no YAML parser (npm's yaml in tests/node, or python3-yaml)");
    process.exit(77);
  }
}
const docs = (await loadDocs(manifestPath)).filter((d) => d);

// ---- 1. the schema ---------------------------------------------------------
// The properties of the interface a .d.ts file declares, and the file of
// each property's type, when it is an object (or an array of them).
const dtsCache = new Map();
function dtsProps(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  const text = fs.readFileSync(file, "utf8");
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const spec = m[2].replace(/\.js$/, "");
    imports.set(m[1], spec.startsWith(".") ? path.join(path.dirname(file), spec + ".d.ts")
      : path.join(nm, spec + ".d.ts"));
  }
  const body = text.match(/^export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/m);
  const props = new Map();
  if (body) {
    for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) {
      const t = m[2].replace(/;$/, "");
      const one = t.match(/^(?:Array<)?(\w+)>?$/);
      props.set(m[1], one && imports.has(one[1]) ? imports.get(one[1]) : null);
    }
  }
  dtsCache.set(file, props);
  return props;
}
function unknownFields(value, file, where, out) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, file, `${where}[${i}]`, out));
    return;
  }
  if (value === null || typeof value !== "object") return;
  const props = dtsProps(file);
  for (const [k, v] of Object.entries(value)) {
    if (!props.has(k)) out.push(`${where}.${k}`);
    else if (props.get(k)) unknownFields(v, props.get(k), `${where}.${k}`, out);
  }
}

let schema = "skipped: kubernetes-models is not installed in tests/node (npm)";
if (fs.existsSync(path.join(nm, "kubernetes-models"))) {
  const ver = JSON.parse(fs.readFileSync(path.join(nm, "kubernetes-models/package.json"))).version;
  for (const d of docs) {
    const name = `${d.kind}/${d.metadata && d.metadata.name}`;
    const dts = path.join(nm, "kubernetes-models", d.apiVersion, `${d.kind}.d.ts`);
    if (!fs.existsSync(dts)) {
      fail(`${name}: no such kind in ${d.apiVersion}`);
      continue;
    }
    const mod = await import(`kubernetes-models/${d.apiVersion}/${d.kind}`);
    try {
      new mod[d.kind](structuredClone(d)).validate();
    } catch (e) {
      fail(`${name}: ${e.message}`);
    }
    const unknown = [];
    unknownFields(d, dts, d.kind, unknown);
    if (unknown.length) fail(`${name}: fields Kubernetes does not know: ${unknown.join(", ")}`);
  }
  schema = `valid (kubernetes-models ${ver}, no unknown field)`;
}
say(`schema: ${docs.map((d) => d.kind).join(", ")} ${failures.length ? "INVALID" : schema}`);

// ---- 2. the numbers agree --------------------------------------------------
const deploys = docs.filter((d) => d.kind === "Deployment");
if (deploys.length !== 1) {
  fail(`${deploys.length} Deployments, not 1`);
  finish();
}
const dep = deploys[0];
const pod = dep.spec.template;
const podSpec = pod.spec;
const c = podSpec.containers.find((x) => x.command && path.basename(x.command[0]) === "herd");
if (!c) {
  fail("no container whose command is herd");
  finish();
}
const argv = [...c.command.slice(1), ...(c.args || [])];
if (argv[0] !== "run") fail(`the entrypoint is herd ${argv[0]}, not herd run`);
const dd = argv.indexOf("--");
const opts = dd < 0 ? argv : argv.slice(0, dd);
function opt(...names) {
  let v;
  for (let i = 0; i < opts.length; i++) {
    for (const n of names) {
      if (opts[i] === n) v = opts[i + 1];
      else if (opts[i].startsWith(n + "=")) v = opts[i].slice(n.length + 1);
    }
  }
  return v;
}
function seconds(d) {
  const m = /^([0-9.]+)(ms|s|m|h)?$/.exec(d);
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, undefined: 0.001 }[m[2]];
}
function bytes(q) {
  const m = /^([0-9.]+)([KMGT]i?|[kMGT]B?|)$/i.exec(String(q));
  if (!m) return NaN;
  const u = m[2].toUpperCase().replace(/B$/, "");
  const k8sDecimal = /^[kMGT]$/.test(m[2]) && !/i$/.test(m[2]);
  const pow = { "": 0, K: 1, KI: 1, M: 2, MI: 2, G: 3, GI: 3, T: 4, TI: 4 }[u];
  return Number(m[1]) * (k8sDecimal ? 1000 : 1024) ** pow;
}
const hostPort = (a) => {
  const m = /^(.*):(\d+)$/.exec(a || "");
  return m ? { host: m[1], port: Number(m[2]) } : null;
};
const portOf = (p) => {
  if (typeof p === "number") return p;
  const cp = (c.ports || []).find((x) => x.name === p);
  return cp ? cp.containerPort : NaN;
};

const metrics = hostPort(opt("--metrics"));
if (!metrics) fail(`--metrics is ${opt("--metrics")}: no HOST:PORT`);
else if (!["", "*", "0.0.0.0", "[::]"].includes(metrics.host))
  fail(`--metrics ${opt("--metrics")}: the kubelet and Prometheus come from outside the pod`);
const mport = metrics ? metrics.port : NaN;
const listen = hostPort(opt("-l", "--listen"));
if (!listen) fail("no --listen HOST:PORT");

const probe = (p, want) => {
  const g = c[p] && c[p].httpGet;
  if (!g) return fail(`no ${p}.httpGet`);
  if (g.path !== want) fail(`${p} GETs ${g.path}, not ${want}`);
  if (portOf(g.port) !== mport) fail(`${p} port ${g.port} is ${portOf(g.port)}, not --metrics' ${mport}`);
  if (g.scheme && g.scheme !== "HTTP") fail(`${p} scheme ${g.scheme}`);
};
probe("readinessProbe", "/readyz");
probe("livenessProbe", "/healthz");

const ann = (pod.metadata && pod.metadata.annotations) || {};
if (ann["prometheus.io/scrape"] !== "true") fail("no prometheus.io/scrape: \"true\" on the pod");
if (Number(ann["prometheus.io/port"]) !== mport)
  fail(`prometheus.io/port ${ann["prometheus.io/port"]}, not --metrics' ${mport}`);
if ((ann["prometheus.io/path"] || "/metrics") !== "/metrics")
  fail(`prometheus.io/path ${ann["prometheus.io/path"]}`);

const killTimeout = opt("--kill-timeout") === undefined ? 5 : seconds(opt("--kill-timeout"));
const grace = podSpec.terminationGracePeriodSeconds ?? 30;
const pre = c.lifecycle && c.lifecycle.preStop;
let preStop = NaN;
if (pre && pre.sleep) preStop = pre.sleep.seconds;
else if (pre && pre.exec && pre.exec.command[0] === "sleep") preStop = Number(pre.exec.command[1]);
if (!(preStop >= 1)) fail("no preStop sleep: the endpoints may still send traffic after SIGTERM");
if (!(grace > preStop + killTimeout))
  fail(`terminationGracePeriodSeconds ${grace} <= preStop ${preStop} + --kill-timeout ${killTimeout}`);

const res = c.resources || {};
const limitMem = bytes(res.limits && res.limits.memory);
if (!(res.requests && res.requests.cpu && res.requests.memory)) fail("no resources.requests cpu and memory");
if (!(limitMem > 0)) fail("no resources.limits.memory");
const workers = opt("-w", "--workers");
if (!/^\d+$/.test(workers || ""))
  fail(`-w ${workers}: auto counts the node's CPUs, not the pod's; say how many`);
else if (Number(workers) > Math.ceil(parseFloat(res.requests.cpu) * (/m$/.test(res.requests.cpu) ? 0.001 : 1)))
  fail(`-w ${workers} workers for ${res.requests.cpu} CPU`);
const maxMem = bytes(opt("--max-memory"));
if (!(maxMem > 0)) fail("no --max-memory: the OOM killer would kill a worker before herd replaces it");
else if (!(Number(workers) * maxMem < limitMem))
  fail(`${workers} x --max-memory ${opt("--max-memory")} >= limits.memory ${res.limits.memory}`);

const env = Object.fromEntries((c.env || []).map((e) => [e.name, e.value]));
if (c.securityContext && c.securityContext.readOnlyRootFilesystem) {
  const home = env.HERD_HOME;
  const mounts = (c.volumeMounts || []).map((v) => v.mountPath);
  if (!home || !mounts.some((m) => home.startsWith(m.replace(/\/?$/, "/"))))
    fail(`readOnlyRootFilesystem, and HERD_HOME ${home} is on no volume (${mounts.join(", ")})`);
  else if (mounts.includes(home))
    fail(`HERD_HOME ${home} is a mount point: its mode is the volume's, which herd refuses`);
}

const labels = (pod.metadata && pod.metadata.labels) || {};
const matches = (sel) => sel && Object.entries(sel).every(([k, v]) => labels[k] === v);
if (!matches(dep.spec.selector.matchLabels)) fail("the Deployment's selector does not match its pods");
for (const s of docs.filter((d) => d.kind === "Service")) {
  if (!matches(s.spec.selector)) fail(`Service/${s.metadata.name} selects no pod of the Deployment`);
  for (const p of s.spec.ports) {
    const t = portOf(p.targetPort ?? p.port);
    if (listen && t !== listen.port && t !== mport)
      fail(`Service/${s.metadata.name} port ${p.port} goes to ${t}: herd listens on ${listen.port}`);
  }
}
say(`fields: herd ${opts.join(" ")}; probes on :${mport}/readyz and /healthz; grace ${grace} s > ` +
  `preStop ${preStop} s + kill-timeout ${killTimeout} s; ${workers} x ${opt("--max-memory")} < ${res.limits && res.limits.memory}`);

// ---- 3. herd runs it -------------------------------------------------------
function get(port, p) {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: p, timeout: 2000 }, (r) => {
      let body = "";
      r.on("data", (b) => (body += b));
      r.on("end", () => resolve({ status: r.statusCode, body }));
    });
    req.on("error", (e) => resolve({ status: 0, body: String(e) }));
    req.on("timeout", () => req.destroy(new Error("timeout")));
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function live() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "herd-k8s-"));
  // the app: a server on herd's socket, as docs/kubernetes.md says
  fs.writeFileSync(path.join(tmp, "server.js"),
    'require("http").createServer((q, s) => s.end("hello\\n")).listen({ fd: 3 });\n');
  const run = argv.map((a, i) => (i > 0 && ["--metrics", "-l", "--listen"].includes(argv[i - 1]) && i <= dd)
    ? "127.0.0.1:0" : a);
  const child = spawn(herdBin, run, {
    cwd: tmp, env: { ...process.env, ...env, HERD_HOME: path.join(tmp, "herd") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  child.stderr.on("data", (b) => (out += b));
  const exited = new Promise((r) => child.on("exit", (code, sig) => r({ code, sig })));
  try {
    let mp = 0, lp = 0;
    for (let i = 0; i < 100 && !(mp && lp); i++) {
      await sleep(100);
      mp = Number((/metrics on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out) || [])[1] || 0);
      lp = Number((/listening on 127\.0\.0\.1:(\d+)/.exec(out) || [])[1] || 0);
    }
    if (!mp || !lp) return fail(`herd ${run.join(" ")} said no addresses:\n${out}`);
    let ready;
    for (let i = 0; i < 100; i++) {
      ready = await get(mp, c.readinessProbe.httpGet.path);
      if (ready.status === 200) break;
      await sleep(100);
    }
    if (ready.status !== 200 || !/^online: 2 of 2 workers ready/.test(ready.body))
      fail(`readinessProbe: ${ready.status} ${ready.body}`);
    const alive = await get(mp, c.livenessProbe.httpGet.path);
    if (alive.status !== 200 || alive.body.trim() !== "ok") fail(`livenessProbe: ${alive.status} ${alive.body}`);
    const scrape = await get(mp, ann["prometheus.io/path"] || "/metrics");
    const wanted = `herd_workers{app="${opt("-n", "--name")}"} ${workers}`;
    if (scrape.status !== 200 || !scrape.body.split("\n").includes(wanted))
      fail(`scrape: ${scrape.status}, no ${wanted}: ${scrape.body.slice(0, 300)}`);
    const app = await get(lp, "/");
    if (app.body !== "hello\n") fail(`the app on --listen: ${app.status} ${app.body}`);
    // the kubelet: preStop (its sleep is the endpoints', not herd's), then SIGTERM
    const t0 = Date.now();
    child.kill("SIGTERM");
    const st = await Promise.race([exited, sleep((grace - preStop) * 1000).then(() => null)]);
    const secs = (Date.now() - t0) / 1000;
    if (!st) fail(`herd still running ${grace - preStop} s after SIGTERM: the kubelet would SIGKILL it`);
    else if (st.code !== 0) fail(`herd exited ${st.code} (signal ${st.sig}) after SIGTERM:\n${out}`);
    say(`live: /readyz 200 "${ready.body.trim()}", /healthz 200, /metrics 200; SIGTERM: exit ${st && st.code} in ${secs.toFixed(2)} s`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
if (herdBin) await live();
finish();

function finish() {
  for (const f of failures) console.log(`FAIL: ${f}`);
  process.exit(failures.length ? 1 : 0);
}
