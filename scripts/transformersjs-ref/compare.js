// compare.js formats scripts/compare-tjs.sh's JSON reports as markdown:
// per case, the median of every stage for transformers.js and vlmrun
// (tile pruning off and on where swept), the ratios vlmrun / transformers.js,
// peak RSS, and for the logits case the prefill with all-position vs
// last-position logits.
//
// Usage: node compare.js OUT_DIR CASE...
'use strict';
const fs = require('fs');
const path = require('path');

const [dir, ...cases] = process.argv.slice(2);
const read = (name) => {
  const p = path.join(dir, `${name}.json`);
  return fs.existsSync(p) ? JSON.parse(fs.readFileSync(p, 'utf8')) : null;
};
const f1 = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (a, b) => (a > 0 && b > 0 ? `${(a / b).toFixed(2)}×` : '-');
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const gib = (b) => `${(b / 2 ** 30).toFixed(2)} GiB`;

const stages = [
  ['image decode (ms)', 'image_decode_ms'],
  ['preprocess (ms)', 'preprocess_ms'],
  ['vision encode (ms)', 'encode_ms'],
  ['prefill, TTFT after encode (ms)', 'prefill_ms'],
  ['decode (ms)', 'decode_ms'],
  ['decode (tokens/s)', 'decode_tokens_per_s'],
  ['end to end (ms)', 'total_ms'],
];

const vrow = (rep, tiles) => rep.rows.find((r) => (r.tiles || '') === tiles) || null;
const vmed = (row, key) => {
  if (key === 'preprocess_ms') return row.preprocess_ms.median + (row.tile_prune_ms ? row.tile_prune_ms.median : 0);
  return row[key].median;
};

const out = [];
for (const c of cases) {
  if (c === 'encbatch') {
    const p = path.join(dir, 'encbatch.txt');
    if (!fs.existsSync(p)) continue;
    const ms = {};
    for (const line of fs.readFileSync(p, 'utf8').split('\n')) {
      const m = line.match(/^BenchmarkEncoderBatch\/(tiles=\d+\/batch=\d+)\S*\s.*?([\d.]+) ms\/tile/);
      if (m) (ms[m[1]] ||= []).push(Number(m[2]));
    }
    out.push('### encoder batching: vision encoder time per tile, vlmrun (medians)');
    out.push('');
    out.push('| tiles / tiles per ORT call | ms per tile | runs |');
    out.push('|---|---|---|');
    for (const [k, v] of Object.entries(ms)) out.push(`| ${k.replace('tiles=', '').replace('/batch=', ' / ')} | ${f1(median(v))} | ${v.length} |`);
    out.push('');
    continue;
  }
  if (c === 'logits') {
    const p = path.join(dir, 'logits.txt');
    if (!fs.existsSync(p)) continue;
    const ms = { all: [], last: [] };
    let tokens = 0;
    for (const line of fs.readFileSync(p, 'utf8').split('\n')) {
      const m = line.match(/^BenchmarkPrefillLogits\/tokens=(\d+)\/logits=(all|last)\S*\s.*?([\d.]+) ms\/prefill/);
      if (m) {
        tokens = Number(m[1]);
        ms[m[2]].push(Number(m[3]));
      }
    }
    if (!ms.all.length || !ms.last.length) continue;
    const a = median(ms.all);
    const l = median(ms.last);
    out.push(`### logits: one prefill of ${tokens} tokens and its first token, vlmrun (medians of ${ms.all.length})`);
    out.push('');
    out.push('| decoder file | prefill (ms) |');
    out.push('|---|---|');
    out.push(`| real signature (no num_logits_to_keep): logits for all ${tokens} positions | ${f1(a)} |`);
    out.push(`| same weights + num_logits_to_keep = 1: last position only | ${f1(l)} |`);
    out.push('');
    out.push(`Last-position logits save ${(100 * (1 - l / a)).toFixed(1)} % of prefill.`);
    out.push('');
    continue;
  }
  const t = read(`${c}.tjs`);
  const v = read(`${c}.vlmrun`);
  if (!t || !v) continue;
  const off = vrow(v, 'off') || v.rows[0];
  const on = vrow(v, 'on');
  const tm = t.median;
  out.push(`### ${c}: ${path.basename(t.image)}, ${tm.vision_inputs} vision input(s), ${tm.prompt_tokens} prompt tokens, ` +
    `${t.max_new_tokens} new tokens, ${t.intra_op_threads} threads, medians of ${t.runs} runs after ${t.warmup} warm-up`);
  out.push('');
  const head = ['stage', 'transformers.js', 'vlmrun', 'vlmrun / tjs'];
  if (on) head.push(`vlmrun, tile pruning (${on.tiles_skipped} of ${on.tiles_skipped + on.tiles_encoded - 1} tiles skipped)`, 'vs tjs', 'vs vlmrun without');
  out.push(`| ${head.join(' | ')} |`);
  out.push(`|${head.map(() => '---').join('|')}|`);
  for (const [label, key] of stages) {
    const a = tm[key];
    const b = vmed(off, key);
    const cells = [label, f1(a), f1(b), ratio(b, a)];
    if (on) {
      const x = vmed(on, key);
      cells.push(f1(x), ratio(x, a), ratio(x, b));
    }
    out.push(`| ${cells.join(' | ')} |`);
  }
  const peak = [`peak RSS (whole process)`, gib(t.peak_rss_bytes), gib(v.peak_rss_bytes), ratio(v.peak_rss_bytes, t.peak_rss_bytes)];
  if (on) peak.push('(same process)', '', '');
  out.push(`| ${peak.join(' | ')} |`);
  const growT = t.rss_after_last_bytes - t.rss_after_first_bytes;
  const growV = v.rss_after_last_round_bytes - v.rss_after_first_round_bytes;
  const grow = ['RSS growth, first → last measured run', `${(growT / 2 ** 20).toFixed(0)} MiB`, `${(growV / 2 ** 20).toFixed(0)} MiB`, ''];
  if (on) grow.push('', '', '');
  out.push(`| ${grow.join(' | ')} |`);
  out.push('');
  if (on) {
    const saved = 1 - on.encode_ms.median / off.encode_ms.median;
    out.push(`Tile pruning: ${on.tiles_encoded} vision inputs encoded, ${on.tiles_skipped} tiles skipped ` +
      `(decision ${f1(on.tile_prune_ms.median)} ms); encoder time saved ${(100 * saved).toFixed(1)} %, ` +
      `end to end ${ratio(off.total_ms.median, on.total_ms.median)} faster than without, ` +
      `${ratio(tm.total_ms, on.total_ms.median)} faster than transformers.js.`);
    out.push('');
  }
}
process.stdout.write(out.join('\n') + '\n');
