// motiongen studio page: talks to the JSON API of motiongen.studio.server, draws results with three.js.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';

const PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19];
const LEFT = new Set([1, 4, 7, 10, 13, 16, 18, 20]);
const PARTS = ['head', 'spine', 'left_arm', 'right_arm', 'left_leg', 'right_leg', 'pelvis'];
const COLORS = [0x3b6fb6, 0x3a9a5b, 0xb5763a, 0x8a4fb0];
const $ = (id) => document.getElementById(id);

// ---- the 3D view ---------------------------------------------------------------------------------------------
const view = $('view');
const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio || 1);
renderer.shadowMap.enabled = true;
view.appendChild(renderer.domElement);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0xe9ecef);
const camera = new THREE.PerspectiveCamera(45, 1, 0.05, 200);
camera.position.set(3.5, 2.2, 4.5);
const controls = new OrbitControls(camera, renderer.domElement);
controls.target.set(0, 0.9, 0);
scene.add(new THREE.HemisphereLight(0xffffff, 0x667080, 1.6));
const sun = new THREE.DirectionalLight(0xffffff, 2.2);
sun.position.set(4, 8, 3);
sun.castShadow = true;
sun.shadow.mapSize.set(2048, 2048);
Object.assign(sun.shadow.camera, { left: -8, right: 8, top: 8, bottom: -8, near: 0.5, far: 30 });
scene.add(sun, sun.target);
const floor = new THREE.Mesh(new THREE.PlaneGeometry(60, 60), new THREE.MeshStandardMaterial({ color: 0xd8dadc }));
floor.rotation.x = -Math.PI / 2;
floor.receiveShadow = true;
scene.add(floor);
const grid = new THREE.GridHelper(60, 60, 0x9aa0a6, 0xc2c6ca);
grid.position.y = 0.002;
scene.add(grid);

function resize() {
  const w = view.clientWidth, h = view.clientHeight;
  renderer.setSize(w, h, false);
  renderer.domElement.style.width = w + 'px';
  renderer.domElement.style.height = h + 'px';
  camera.aspect = w / Math.max(1, h);
  camera.updateProjectionMatrix();
}
window.addEventListener('resize', resize);

class Figure {
  constructor(joints, color, offset) {
    this.joints = joints;              // [T][22][3]
    this.offset = offset;
    this.group = new THREE.Group();
    const body = new THREE.MeshStandardMaterial({ color, roughness: 0.55 });
    const left = new THREE.MeshStandardMaterial({ color: 0xc0392b, roughness: 0.55 });
    const jointMat = new THREE.MeshStandardMaterial({ color: 0x333333, roughness: 0.4 });
    this.bones = [];
    const capsule = new THREE.CapsuleGeometry(0.035, 1, 4, 10);
    for (let j = 1; j < PARENTS.length; j++) {
      const m = new THREE.Mesh(capsule, LEFT.has(j) ? left : body);
      m.castShadow = true;
      this.group.add(m);
      this.bones.push([j, m]);
    }
    this.balls = [];
    const sphere = new THREE.SphereGeometry(0.045, 12, 8);
    for (let j = 0; j < PARENTS.length; j++) {
      const m = new THREE.Mesh(sphere, j === 15 ? body : jointMat);
      if (j === 15) m.scale.setScalar(2.3);
      m.castShadow = true;
      this.group.add(m);
      this.balls.push(m);
    }
    const path = joints.map((f) => new THREE.Vector3(f[0][0] + offset, 0.01, f[0][2]));
    this.trail = new THREE.Line(new THREE.BufferGeometry().setFromPoints(path),
                                new THREE.LineBasicMaterial({ color }));
    this.group.add(this.trail);
    scene.add(this.group);
  }
  pose(frame) {
    const f = this.joints[Math.min(frame, this.joints.length - 1)];
    const p = (j) => new THREE.Vector3(f[j][0] + this.offset, f[j][1], f[j][2]);
    const up = new THREE.Vector3(0, 1, 0);
    for (const [j, m] of this.bones) {
      const a = p(PARENTS[j]), b = p(j);
      const d = b.clone().sub(a);
      const len = Math.max(d.length(), 1e-4);
      m.position.copy(a).add(b).multiplyScalar(0.5);
      m.quaternion.setFromUnitVectors(up, d.divideScalar(len));
      m.scale.set(1, len / 1.07, 1);
    }
    this.balls.forEach((m, j) => m.position.copy(p(j)));
  }
  root(frame) {
    const f = this.joints[Math.min(frame, this.joints.length - 1)];
    return new THREE.Vector3(f[0][0] + this.offset, f[0][1], f[0][2]);
  }
  dispose() { scene.remove(this.group); }
}

// our GLB's skinned mannequin, its animation driven by the player's clock (same interface as Figure)
class Mannequin {
  constructor(sample, offset) {
    this.joints = sample.joints;
    this.offset = offset;
    this.group = new THREE.Group();
    this.group.position.x = offset;
    this.mixer = null;
    this.ready = new GLTFLoader().loadAsync(sample.glb).then((gltf) => {
      gltf.scene.traverse((o) => { if (o.isMesh) { o.castShadow = true; o.frustumCulled = false; } });
      this.group.add(gltf.scene);
      this.mixer = new THREE.AnimationMixer(gltf.scene);
      if (gltf.animations.length) this.mixer.clipAction(gltf.animations[0]).play();
    });
    scene.add(this.group);
  }
  pose(frame) { if (this.mixer) this.mixer.setTime(frame / player.fps); }
  root(frame) {
    const f = this.joints[Math.min(frame, this.joints.length - 1)];
    return new THREE.Vector3(f[0][0] + this.offset, f[0][1], f[0][2]);
  }
  dispose() { scene.remove(this.group); }
}

const player = { figures: [], frames: 0, fps: 20, time: 0, playing: true, speed: 1, frame: 0, drawn: 0 };
window.__studio = player;                   // read by the browser test

function show(samples) {
  player.figures.forEach((f) => f.dispose());
  const overlay = $('layout').value === 'overlay';
  const mannequin = $('figure').value === 'mannequin';
  player.figures = samples.map((s, i) => {
    const offset = overlay ? 0 : (i - (samples.length - 1) / 2) * 1.6;
    return mannequin && s.glb ? new Mannequin(s, offset) : new Figure(s.joints, COLORS[i % COLORS.length], offset);
  });
  player.frames = Math.max(0, ...samples.map((s) => s.joints.length));
  player.fps = samples.length ? samples[0].fps || 20 : 20;
  player.time = 0;
  player.playing = player.frames > 0;       // a new result plays from its start
  $('scrub').max = Math.max(0, player.frames - 1);
  playLabel();
  if (!$('follow').checked) frameAll();
}

// the button names what it does: "Play" until something plays, "Pause" while it does
function playLabel() { $('play').textContent = player.playing && player.frames ? 'Pause' : 'Play'; }

// with follow off the camera frames every joint of every figure over the whole motion (the path included),
// keeping its viewing direction: a figure that walks away stays in view
function frameAll() {
  if (!player.figures.length) return;
  const box = new THREE.Box3();
  const v = new THREE.Vector3();
  for (const fig of player.figures) {
    for (const f of fig.joints) for (const j of f) box.expandByPoint(v.set(j[0] + fig.offset, j[1], j[2]));
  }
  box.expandByPoint(v.set(box.min.x, 0, box.min.z));                 // the floor under the figure
  const sphere = box.getBoundingSphere(new THREE.Sphere());
  const dir = camera.position.clone().sub(controls.target).normalize();
  const half = THREE.MathUtils.degToRad(camera.fov / 2);
  const fit = Math.min(half, Math.atan(Math.tan(half) * camera.aspect));  // the narrower of the two view angles
  const dist = Math.max(1.5, sphere.radius / Math.sin(fit) * 1.05);
  controls.target.copy(sphere.center);
  camera.position.copy(sphere.center).addScaledVector(dir, dist);
  camera.far = Math.max(200, dist * 4);
  camera.updateProjectionMatrix();
  controls.update();
}
player.show = show;                         // the browser test shows synthetic motions
// the largest |x| or |y| of any figure's root in normalised device coordinates over all frames (<= 1: in view)
player.rootsInView = () => {
  camera.updateMatrixWorld();
  let worst = 0;
  for (const fig of player.figures) {
    for (let k = 0; k < fig.joints.length; k++) {
      const p = fig.root(k).project(camera);
      worst = Math.max(worst, Math.abs(p.x), Math.abs(p.y));
    }
  }
  return worst;
};

let last = performance.now();
function tick(now) {
  const dt = (now - last) / 1000;
  last = now;
  if (player.frames) {
    if (player.playing) player.time = (player.time + dt * player.speed) % (player.frames / player.fps);
    player.frame = Math.min(player.frames - 1, Math.floor(player.time * player.fps));
    player.figures.forEach((f) => f.pose(player.frame));
    $('scrub').value = player.frame;
    $('readout').textContent = `frame ${player.frame + 1} / ${player.frames} · ${(player.frame / player.fps).toFixed(2)} s`;
    if ($('follow').checked && player.figures.length) {
      const r = player.figures[0].root(player.frame);
      const shift = r.clone().sub(controls.target).setY(0);
      controls.target.add(shift);
      camera.position.add(shift);
    }
  }
  controls.update();
  renderer.render(scene, camera);
  player.drawn += 1;
  requestAnimationFrame(tick);
}

$('play').onclick = () => { if (player.frames) player.playing = !player.playing; playLabel(); };
$('scrub').oninput = (e) => { player.playing = false; playLabel(); player.time = +e.target.value / player.fps; };
$('follow').onchange = () => { if (!$('follow').checked) frameAll(); };
$('speed').onchange = (e) => { player.speed = +e.target.value; };
$('layout').onchange = () => { if (current) showResult(current); };
$('figure').onchange = () => { if (current) showResult(current); };

// ---- API -----------------------------------------------------------------------------------------------------
async function api(path, body) {
  const opt = body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' },
                                          body: JSON.stringify(body) };
  const r = await fetch(path, opt);
  let data = {};
  try { data = await r.json(); } catch (e) { data = { error: `HTTP ${r.status}` }; }
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}
function status(text) { $('status').textContent = text; }

let current = null, currentJob = null;

async function runJob(promise) {
  let job;
  try { job = (await promise).job; } catch (e) { status('error: ' + e.message); return null; }
  currentJob = job.id;
  $('cancel').disabled = false;
  while (true) {
    await new Promise((r) => setTimeout(r, 300));
    try { job = await api(`/api/jobs/${job.id}`); } catch (e) { status('error: ' + e.message); break; }
    $('progress').max = Math.max(1, job.total);
    $('progress').value = job.step;
    if (job.status === 'queued') status('queued');
    else if (job.status === 'running') status(job.total ? `denoising step ${job.step} of ${job.total}` : 'starting');
    else break;
  }
  $('cancel').disabled = true;
  currentJob = null;
  if (job.status === 'done') { status('done'); await refreshHistory(); await load(job.result); return job; }
  status(job.status === 'failed' ? 'failed: ' + job.error : job.status);
  return null;
}

function numberOrNull(id) { const v = $(id).value; return v === '' ? null : +v; }
function common() {
  const body = { seed: +$('seed').value, samples: +$('samples').value };
  const model = $('model').value; if (model) body.model = model;
  const sampler = $('sampler').value; if (sampler) body.sampler = sampler;
  const steps = numberOrNull('steps'); if (steps !== null) body.steps = steps;
  const g = numberOrNull('guidance'); if (g !== null) body.guidance = g;
  return body;
}
$('generate').onclick = () => runJob(api('/api/generate', { text: $('text').value, seconds: +$('seconds').value,
                                                           ...common() }));
$('cancel').onclick = async () => { if (currentJob) await api(`/api/jobs/${currentJob}/cancel`, {}); };
$('backend').onchange = () => $('llm').classList.toggle('hidden', $('backend').value !== 'openai');
$('edit').onclick = async () => {
  if (!current) { status('generate something first'); return; }
  const body = { parent: current.id, instruction: $('instruction').value, backend: $('backend').value };
  if (body.backend === 'openai' && $('llm-model').value) body.llm_model = $('llm-model').value;
  const job = await runJob(api('/api/edit', body));
  if (job && current) $('diff').textContent = (current.plan_diff || []).join('\n') || '(no change)';
};

async function load(id) {
  current = await api(`/api/results/${id}`);
  showResult(current);
  if (current.parent) {                    // an edit: show it beside its parent
    try {
      const parent = withGlb(await api(`/api/results/${current.parent}`));
      show([parent.sample_data[current.parent_sample || 0], ...current.sample_data]);
      status(`edit of ${current.parent} (left) -> ${current.id}`);
    } catch (e) { /* the parent may have been removed */ }
  }
  document.querySelectorAll('#history li').forEach((li) => li.classList.toggle('current', li.dataset.id === id));
}
function withGlb(res) {
  res.sample_data.forEach((s, k) => { s.glb = `/api/results/${res.id}/samples/${k}/glb`; });
  return res;
}
function showResult(res) {
  withGlb(res);
  show(res.sample_data);
  const dl = $('downloads');
  dl.innerHTML = '';
  res.sample_data.forEach((_, k) => {
    const span = document.createElement('span');
    span.textContent = res.sample_data.length > 1 ? `sample ${k + 1}: ` : 'download: ';
    dl.appendChild(span);
    for (const fmt of ['bvh', 'glb', 'joints', 'features', 'mp4', 'plan']) {
      const a = document.createElement('a');
      a.href = `/api/results/${res.id}/samples/${k}/${fmt}`;
      a.textContent = fmt;
      a.className = 'download';
      a.dataset.format = fmt;
      a.setAttribute('download', '');
      dl.appendChild(a);
    }
  });
  const cid = $('character').value;
  if (cid) {
    res.sample_data.forEach((_, k) => {
      const span = document.createElement('span');
      span.textContent = ` on ${$('character').selectedOptions[0].textContent}${res.sample_data.length > 1 ? ` (sample ${k + 1})` : ''}: `;
      dl.appendChild(span);
      for (const fmt of ['bvh', 'glb']) {
        const a = document.createElement('a');
        a.href = `/api/results/${res.id}/samples/${k}/character/${cid}.${fmt}`;
        a.textContent = fmt;
        a.className = 'download';
        a.dataset.format = `character-${fmt}`;
        a.setAttribute('download', '');
        dl.appendChild(a);
      }
    });
  }
  if (res.plan) setPlan(res.plan);
}

// ---- "on my character": a rig uploaded once, every result downloadable on it ---------------------------------
async function refreshCharacters(select) {
  const { characters } = await api('/api/characters');
  const sel = $('character');
  const keep = select || sel.value || localStorage.getItem('motiongen-character') || '';
  sel.innerHTML = '<option value="">(none)</option>';
  for (const c of characters) {
    const o = document.createElement('option');
    o.value = c.id; o.textContent = c.name;
    o.title = `${c.bones} bones, ${c.mapped} of 22 joints mapped (${c.how}); at rest: ${c.at_rest.join(', ')}`;
    sel.appendChild(o);
  }
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}
$('character').onchange = () => {
  localStorage.setItem('motiongen-character', $('character').value);
  if (current) showResult(current);
};
$('character-file').onchange = async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  const r = await fetch(`/api/characters?name=${encodeURIComponent(file.name)}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: file });
  const data = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) { $('character-info').textContent = 'error: ' + (data.error || r.status); return; }
  $('character-info').textContent = `${data.name}: ${data.bones} bones, ${data.mapped} of our 22 joints mapped ` +
    `(${data.how})` + (data.at_rest.length ? `; left at rest: ${data.at_rest.length}` : '');
  await refreshCharacters(data.id);
  localStorage.setItem('motiongen-character', data.id);
  if (current) showResult(current);
};

async function refreshHistory() {
  const { results } = await api('/api/results');
  const ul = $('history');
  ul.innerHTML = '';
  for (const r of results) {
    const li = document.createElement('li');
    li.dataset.id = r.id;
    li.textContent = `${(r.text || '').slice(0, 60)} (${(r.frames / 20).toFixed(1)} s, seed ${r.seed})`;
    if (r.parent) {
      const p = document.createElement('div');
      p.className = 'parent';
      p.textContent = `edit of ${r.parent}: ${r.instruction || ''}`;
      li.appendChild(p);
    }
    li.onclick = () => load(r.id);
    ul.appendChild(li);
  }
}

// ---- the plan editor -----------------------------------------------------------------------------------------
let plan = [{ text: 'a person walks forward', seconds: 2, parts: {} },
            { text: 'a person waves with the right hand', seconds: 2, parts: {} }];
let selected = 0;
function planJSON() {
  return { stages: plan.map((s) => {
    const parts = Object.fromEntries(Object.entries(s.parts).filter(([, v]) => v && v.trim()));
    return Object.keys(parts).length ? { text: s.text, seconds: s.seconds, parts } : { text: s.text, seconds: s.seconds };
  }) };
}
function drawPlan() {
  const tl = $('timeline');
  tl.innerHTML = '';
  const total = plan.reduce((a, s) => a + s.seconds, 0) || 1;
  plan.forEach((s, i) => {
    const d = document.createElement('div');
    d.className = 'stage' + (i === selected ? ' selected' : '');
    d.style.width = `${(100 * s.seconds) / total}%`;
    d.textContent = `${s.seconds}s ${s.text}`;
    d.onclick = () => { selected = i; drawPlan(); };
    tl.appendChild(d);
  });
  const ed = $('stage-editor');
  ed.innerHTML = '';
  const s = plan[selected];
  if (!s) return;
  const field = (label, value, onchange, type = 'text') => {
    const l = document.createElement('label');
    l.textContent = label + ' ';
    const inp = document.createElement('input');
    inp.type = type; inp.value = value; inp.dataset.field = label;
    if (type === 'number') { inp.min = '0.5'; inp.step = '0.5'; }
    inp.onchange = () => { onchange(inp.value); drawPlan(); };
    l.appendChild(inp);
    ed.appendChild(l);
  };
  field(`stage ${selected + 1} text`, s.text, (v) => { s.text = v; });
  field('seconds', s.seconds, (v) => { s.seconds = Math.max(0.5, +v || 0.5); }, 'number');
  for (const p of PARTS) field(p, s.parts[p] || '', (v) => { s.parts[p] = v; });
  $('plan-json').textContent = JSON.stringify(planJSON(), null, 1);
}
function setPlan(p) {
  plan = p.stages.map((s) => ({ text: s.text, seconds: (s.frames[1] - s.frames[0]) / 20, parts: { ...(s.parts || {}) } }));
  selected = Math.min(selected, plan.length - 1);
  drawPlan();
}
$('add-stage').onclick = () => { plan.splice(selected + 1, 0, { text: 'a person stands still', seconds: 2, parts: {} });
                                 selected += 1; drawPlan(); };
$('remove-stage').onclick = () => { if (plan.length > 1) { plan.splice(selected, 1); selected = Math.max(0, selected - 1); drawPlan(); } };
$('generate-plan').onclick = () => runJob(api('/api/generate', { plan: planJSON(), ...common() }));

// ---- start ---------------------------------------------------------------------------------------------------
(async () => {
  resize();
  requestAnimationFrame(tick);
  drawPlan();
  try {
    const { models, default: def } = await api('/api/models');
    for (const m of models) {
      const o = document.createElement('option');
      o.value = m.name; o.textContent = `${m.name} (${m.type}, up to ${m.max_seconds} s)`;
      if (m.name === def) o.selected = true;
      $('model').appendChild(o);
    }
    await refreshHistory();
    await refreshCharacters();
    status('ready');
  } catch (e) { status('error: ' + e.message); }
})();
