// The page of `heapdiff --format html`: builds the report from the JSON in
// #heapdiff-data. Text from the report is only ever set as text (never parsed as HTML).
'use strict';
(function () {
  const D = JSON.parse(document.getElementById('heapdiff-data').textContent);
  const app = document.getElementById('app');

  // --- small helpers ---------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }
  // Sizes as heapdiff's other formats write them: decimal units, three digits.
  function bytes(n) {
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    if (n < 1000) return `${n} B`;
    let v = n, u = 0;
    while (v >= 999.95 && u + 1 < units.length) { v /= 1000; u++; }
    const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
    return `${v.toFixed(digits)} ${units[u]}`;
  }
  function signedBytes(n) {
    return n > 0 ? `+${bytes(n)}` : n < 0 ? `-${bytes(-n)}` : '0 B';
  }
  function signed(n) { return n > 0 ? `+${n}` : String(n); }
  function count(n) { return n.toLocaleString('en-US'); }
  function cls(n) { return n > 0 ? 'pos' : n < 0 ? 'neg' : null; }
  const isJemalloc = D.input_kind === 'jemalloc';
  const compared = D.mode !== 'summary';

  function sparkline(values) {
    const w = 80, h = 18, max = Math.max(...values), min = Math.min(...values);
    const span = max - min || 1;
    const pts = values.map((v, i) =>
      `${(i * (w - 4) / Math.max(values.length - 1, 1) + 2).toFixed(1)},` +
      `${(h - 2 - (v - min) * (h - 4) / span).toFixed(1)}`).join(' ');
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', pts);
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', values[values.length - 1] > values[0] ? '#b3261e' : '#5f6b76');
    line.setAttribute('stroke-width', '1.5');
    svg.append(line);
    const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    title.textContent = values.join(' → ');
    svg.append(title);
    return svg;
  }

  // --- header, gate, notes ---------------------------------------------------------------
  function header() {
    const n = D.snapshots.length;
    const what = D.mode === 'summary' ? 'summary of one snapshot'
      : D.mode === 'comparison' ? 'comparison of two snapshots' : `series of ${n} snapshots`;
    const rows = D.snapshots.map((s, i) => el('tr', {},
      el('th', {}, n === 1 ? 'snapshot' : i === 0 ? 'before' : i === n - 1 ? 'after' : `s${i + 1}`),
      el('td', {class: 'mono'}, s.path),
      el('td', {}, isJemalloc ? `${count(s.stack_count || 0)} stacks`
        : `${count(s.node_count)} nodes, ${count(s.edge_count)} edges`),
      el('td', {}, bytes(s.total_size))));
    const growth = D.totals ? el('p', {class: 'meta'}, 'Growth: ',
      el('strong', {class: cls(D.totals.size_delta)}, signedBytes(D.totals.size_delta)),
      ` (${bytes(D.totals.size_before)} → ${bytes(D.totals.size_after)})`) : null;
    return el('header', {},
      el('h1', {}, document.title),
      el('p', {class: 'meta'}, `${isJemalloc ? 'jemalloc heap profiles' : 'V8 heap snapshots'}: ${what}` +
        (D.ids_comparable === true ? ', objects matched by id' : '')),
      el('table', {class: 'inputs'}, rows),
      growth);
  }

  function gate() {
    if (!D.gate) return null;
    return el('div', {class: `gate ${D.gate.breached ? 'breached' : 'passed'}`, id: 'gate'},
      D.gate.breached ? `Gate breached: ${D.gate.reasons.join('; ')}` : 'Gate passed');
  }

  function notes() {
    return D.notes.map(n => el('div', {class: 'note'}, n));
  }

  // --- findings ----------------------------------------------------------------------------
  function pathList(steps, ownerStart) {
    return el('ol', {class: 'path'}, steps.map((s, i) => el('li', {class: i >= ownerStart ? 'owner' : null},
      i === 0 ? null : el('span', {class: 'edge mono'}, s.edge), i === 0 ? null : ' → ',
      el('span', {}, s.node))));
  }

  function findings() {
    const sec = el('section', {id: 'findings'}, el('h2', {}, `Leak findings (${D.findings.length})`));
    if (!D.findings.length) {
      sec.append(el('p', {class: 'muted'}, 'No leak findings.'));
      return sec;
    }
    D.findings.forEach((f, i) => {
      const counts = f.trend ? f.trend.join(' → ') : `${f.count_before} → ${f.count_after}`;
      const related = (f.related || []).length
        ? el('p', {}, 'Also seen: ', f.related.map(r => r.kind).join(', ')) : null;
      sec.append(el('details', {class: 'finding', 'data-finding': i, 'data-fingerprint': f.fingerprint,
        'data-kind': f.kind},
        el('summary', {},
          el('span', {class: `sev ${f.severity}`}, f.severity),
          el('strong', {}, f.title),
          el('span', {class: 'nums'}, `${counts} · retained ${bytes(f.retained_size_before)} → ` +
            `${bytes(f.retained_size_after)}${f.shared ? ' (shared)' : ''}`)),
        el('div', {},
          el('p', {}, el('strong', {}, 'Held by: '), el('span', {class: 'mono'}, f.owner)),
          el('p', {class: 'evidence'}, f.evidence),
          el('p', {class: 'fix'}, el('strong', {}, 'Fix: '), f.suggestion),
          related,
          f.path.length ? el('div', {}, el('strong', {}, 'Retainer path'), pathList(f.path, f.owner_start)) : null)));
    });
    return sec;
  }

  // --- sortable, filterable tables -----------------------------------------------------------
  // columns: {label, get(row) → value, show(value, row) → text or node, text: bool}
  function table(id, rows, columns, rowAttrs) {
    const cols = columns.filter(c => c.always || rows.some(r => {
      const v = c.get(r);
      return v !== null && v !== undefined;
    }));
    const thead = el('tr', {});
    const tbody = el('tbody', {});
    const render = order => {
      tbody.replaceChildren(...order.map(r => el('tr', rowAttrs(r), cols.map(c => {
        const v = c.get(r);
        const shown = v === null || v === undefined ? '—' : c.show ? c.show(v, r) : v;
        return el('td', {class: [c.text ? 'text' : null, c.sign ? cls(v) : null].filter(Boolean).join(' ') || null,
          'data-v': typeof v === 'number' ? v : null, title: c.text ? String(v) : null}, shown);
      }))));
    };
    cols.forEach((c, k) => {
      thead.append(el('th', {class: c.text ? 'text' : null, 'data-col': k, onclick: ev => {
        const th = ev.currentTarget;
        const dir = th.getAttribute('aria-sort') === 'descending' ? 'ascending' : 'descending';
        thead.querySelectorAll('th').forEach(h => h.removeAttribute('aria-sort'));
        th.setAttribute('aria-sort', dir);
        const sign = dir === 'ascending' ? 1 : -1;
        const key = r => {
          const v = c.get(r);
          return v === null || v === undefined ? -Infinity : v;
        };
        const sorted = rows.slice().sort((a, b) => {
          const x = key(a), y = key(b);
          if (typeof x === 'string' || typeof y === 'string') return sign * String(x).localeCompare(String(y));
          return sign * (x - y);
        });
        render(sorted);
        filterRows();
      }}, c.label));
    });
    const t = el('table', {class: 'data', id}, el('thead', {}, thead), tbody);
    let query = '';
    const filterRows = () => {
      for (const tr of tbody.rows) {
        tr.hidden = query !== '' && !tr.cells[0].textContent.toLowerCase().includes(query);
      }
    };
    t.filter = q => { query = q.toLowerCase(); filterRows(); };
    render(rows);
    return t;
  }

  function classes() {
    if (!D.classes.length) return null;
    const trend = D.mode === 'series';
    const columns = [
      {label: 'Class', get: r => r.name, text: true, always: true},
      ...(compared ? [
        {label: 'Count before', get: r => D.ids_comparable ? null : r.count_before, show: count},
        {label: 'Count after', get: r => D.ids_comparable ? null : r.count_after, show: count},
        {label: '# New', get: r => r.added_count, show: count},
        {label: '# Deleted', get: r => r.removed_count, show: count},
        {label: '# Delta', get: r => r.count_delta, show: signed, sign: true},
        {label: 'Alloc. Size', get: r => r.added_size, show: bytes},
        {label: 'Freed Size', get: r => r.removed_size, show: bytes},
        {label: 'Size Delta', get: r => r.size_delta, show: signedBytes, sign: true},
        {label: 'Retained before', get: r => r.retained_size_before, show: bytes},
        {label: 'Retained after', get: r => r.retained_size_after, show: bytes},
      ] : [
        {label: 'Count', get: r => r.count_after, show: count},
        {label: 'Self size', get: r => r.self_size_after, show: bytes},
        {label: 'Retained size', get: r => r.retained_size_after, show: bytes},
      ]),
      ...(trend ? [
        {label: 'Trend', get: r => r.trend ? r.trend[r.trend.length - 1] - r.trend[0] : null,
          show: (v, r) => el('span', {}, sparkline(r.trend), ' ', r.trend.join(' → '))},
        {label: 'Candidates', get: r => r.leak_candidates, show: count},
      ] : []),
    ];
    const t = table('classes', D.classes, columns, r => ({'data-class': r.name, class: r.ignored ? 'ignored' : null}));
    const shown = D.classes.length < D.classes_total
      ? `the ${D.classes.length} classes that ${compared ? 'changed most' : 'retain most'}, of ` +
        `${D.classes_total} (--top)`
      : `all ${D.classes_total} classes`;
    return el('section', {id: 'classes-section'},
      el('h2', {}, compared ? 'Classes by growth' : 'Classes by retained size'),
      el('div', {class: 'toolbar'},
        el('input', {type: 'search', placeholder: 'Filter classes by name', id: 'class-filter',
          oninput: ev => t.filter(ev.target.value)}),
        el('span', {class: 'muted'}, `Showing ${shown}; click a column to sort.`)),
      t);
  }

  function dominators() {
    if (!D.dominators || !D.dominators.length) return null;
    return el('section', {},
      el('h2', {}, 'Largest dominators'),
      table('dominators', D.dominators, [
        {label: 'Class', get: r => r.class, text: true, always: true},
        {label: 'Id', get: r => r.id, show: v => `@${v}`},
        {label: 'Self size', get: r => r.self_size, show: bytes},
        {label: 'Retained size', get: r => r.retained_size, show: bytes},
        {label: 'Distance', get: r => r.distance},
      ], r => ({'data-id': r.id})));
  }

  // --- retainer paths as a tree -----------------------------------------------------------
  function pathsTree() {
    const grown = D.classes.filter(c => (c.retainer_paths || []).length);
    if (!grown.length) return null;
    const sec = el('section', {id: 'paths', class: 'tree'},
      el('h2', {}, 'Who holds the growth'),
      el('p', {class: 'muted'}, 'Retainer paths of the new instances of each grown class, from the root; ' +
        'open a step to follow it.'));
    for (const c of grown) {
      // A prefix tree of the class's paths: one branch per distinct step.
      const root = {kids: new Map(), count: 0, size: 0};
      for (const p of c.retainer_paths) {
        let at = root;
        root.count += p.count;
        root.size += p.size;
        p.path.forEach((s, i) => {
          const key = `${s.edge}\u0000${s.edge_type}\u0000${s.node}`;
          if (!at.kids.has(key)) at.kids.set(key, {step: s, first: i === 0, kids: new Map(), count: 0, size: 0, ends: 0});
          at = at.kids.get(key);
          at.count += p.count;
          at.size += p.size;
        });
        at.ends += p.count;
      }
      const branch = node => {
        const s = node.step;
        const label = node.first ? [s.node] : [el('span', {class: 'edge mono'}, s.edge), ' → ', s.node];
        const kids = [...node.kids.values()].sort((a, b) => b.size - a.size);
        const summary = el('summary', {}, ...label,
          el('span', {class: 'size'}, `${count(node.count)} new, ${bytes(node.size)}` +
            (node.ends && kids.length ? ` (${count(node.ends)} end here)` : '')));
        return el('details', {'data-step': s.node}, summary, kids.map(branch));
      };
      sec.append(el('details', {'data-class': c.name},
        el('summary', {}, el('strong', {}, c.name),
          el('span', {class: 'size'}, `${count(root.count)} new, ${bytes(root.size)} retained, ` +
            `${c.retainer_paths.length} path${c.retainer_paths.length === 1 ? '' : 's'}`)),
        [...root.kids.values()].map(branch)));
    }
    return sec;
  }

  // --- the icicle chart --------------------------------------------------------------------
  function chart() {
    if (!D.chart.lines.length && !D.chart.rest[0]) return null;
    const root = {name: isJemalloc ? 'all stacks' : 'all growth', kids: new Map(), value: 0, depth: 0};
    for (const [ids, value] of D.chart.lines) {
      const frames = ids.map(i => D.chart.frames[i]);
      let at = root;
      root.value += value;
      for (const frame of frames) {
        if (!at.kids.has(frame)) at.kids.set(frame, {name: frame, kids: new Map(), value: 0, parent: at, depth: at.depth + 1});
        at = at.kids.get(frame);
        at.value += value;
      }
      at.line = frames.join(';');
    }
    const [restLines, restBytes] = D.chart.rest;
    if (restLines) {
      root.kids.set('\u0000rest', {name: `(${count(restLines)} smaller lines)`, kids: new Map(), value: restBytes,
        parent: root, depth: 1, rest: true});
      root.value += restBytes;
    }
    const box = el('div', {class: 'flame', id: 'flame'});
    const crumbs = el('div', {class: 'crumbs'});
    const hue = name => {
      let h = 0;
      for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
      return h;
    };
    const ROW = 21;
    // Boxes narrower than this share of the view are not drawn (with all beneath them) once
    // the chart is big: tens of thousands of invisible boxes only slow the page. Zooming in
    // draws them.
    let nodes = 0;
    const countNodes = n => { nodes++; n.kids.forEach(countNodes); };
    countNodes(root);
    const MIN_WIDTH = nodes > 5000 ? 0.0005 : 0;
    const draw = top => {
      box.replaceChildren();
      let depth = 0;
      const place = (node, x, w, d) => {
        if (w < MIN_WIDTH && d > 0) return;
        depth = Math.max(depth, d);
        const h = hue(node.name);
        const pct = (100 * node.value / (root.value || 1)).toFixed(2);
        box.append(el('div', {class: 'box', 'data-path': node.line || null, 'data-rest': node.rest || null,
          style: `left:${(x * 100).toFixed(4)}%;width:${(w * 100).toFixed(4)}%;top:${d * ROW}px;` +
            `background:hsl(${12 + h % 40},${70 + h % 20}%,${62 + h % 14}%)`,
          title: `${node.name}\n${bytes(node.value)} (${pct}% of all)`,
          onclick: () => draw(node)}, node.name));
        let cx = x;
        for (const kid of [...node.kids.values()].sort((a, b) => b.value - a.value)) {
          const kw = node.value ? w * kid.value / node.value : 0;
          place(kid, cx, kw, d + 1);
          cx += kw;
        }
      };
      place(top, 0, 1, 0);
      box.style.height = `${(depth + 1) * ROW}px`;
      crumbs.replaceChildren();
      if (top !== root) {
        const trail = [];
        for (let n = top; n; n = n.parent) trail.unshift(n.name);
        crumbs.append(el('button', {onclick: () => draw(root), id: 'flame-reset'}, 'Show all'), trail.join(' › '));
      } else {
        crumbs.append(isJemalloc ? 'Bytes growth by allocation stack, outermost frame on top. '
          : 'Retained growth by retainer path, the root on top. ', 'Click a box to zoom in; hover for sizes.');
      }
    };
    draw(root);
    return el('section', {id: 'chart'},
      el('h2', {}, isJemalloc ? 'Where the bytes grew' : 'Where the growth sits'), crumbs, box);
  }

  // --- jemalloc tables ---------------------------------------------------------------------
  function stacks() {
    if (!isJemalloc || !D.stacks.length) return null;
    const frames = r => r.frames.length ? r.frames.join(' ← ') : '(no frames)';
    return el('section', {},
      el('h2', {}, 'Allocation stacks by bytes growth'),
      el('p', {class: 'muted'}, `Showing ${D.stacks.length} of ${D.stacks_total} stacks, innermost frame first.`),
      table('stacks', D.stacks, [
        {label: 'Stack', get: frames, text: true, always: true},
        {label: 'Bytes before', get: r => r.bytes_before, show: bytes},
        {label: 'Bytes after', get: r => r.bytes_after, show: bytes},
        {label: 'Bytes Δ', get: r => r.bytes_delta, show: signedBytes, sign: true},
        {label: 'Objects Δ', get: r => r.objects_delta, show: signed, sign: true},
      ], r => ({'data-stack': r.frames[0] || ''})));
  }

  function functions() {
    if (!isJemalloc || !D.functions.length) return null;
    return el('section', {},
      el('h2', {}, 'Functions'),
      el('p', {class: 'muted'}, `Showing ${D.functions.length} of ${D.functions_total}. Flat: stacks whose ` +
        'innermost frame is the function; cum: stacks that contain it.'),
      table('functions', D.functions, [
        {label: 'Function', get: r => r.name, text: true, always: true},
        {label: 'Where', get: r => r.file ? `${r.file}:${r.line || '?'}` : null, text: true},
        {label: 'Flat Δ', get: r => r.flat_delta, show: signedBytes, sign: true},
        {label: 'Cum Δ', get: r => r.cum_delta, show: signedBytes, sign: true},
      ], r => ({'data-function': r.name})));
  }

  app.append(header());
  [gate(), ...notes(), findings(), chart(), classes(), pathsTree(), stacks(), functions(), dominators()]
    .forEach(part => part && app.append(part));
  app.append(el('footer', {}, `heapdiff ${D.version} · ${D.format} · the full data: --format json`));
})();
