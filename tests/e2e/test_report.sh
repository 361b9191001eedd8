#!/usr/bin/env bash
# `trainer report`: the HTML file's charts parse, plot exactly the history's
# values where the axes say, the tables name the config differences, text
# from files is escaped, runs being written and single-epoch runs work, bad
# input is a one-line error with exit 2, and headless Chromium renders a
# page that is not blank (Chromium must be installed: launch/setup.sh does).
source "$(dirname "$0")/lib.sh"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"

# ---- runs: two learning rates, a single epoch, one still being written ----
"$TRAINER" train "$config" --set epochs=3 --set verbose=0 --set run_dir=runs/lr_0.1 >/dev/null
"$TRAINER" train "$config" --set epochs=3 --set verbose=0 --set run_dir=runs/lr_0.01 \
  --set optimizer.sgd.learning_rate=0.01 >/dev/null
"$TRAINER" train "$config" --set epochs=1 --set verbose=0 --set run_dir=runs/single >/dev/null
mkdir -p running
cp runs/lr_0.1/config.pbtxt running/
head -c -40 runs/lr_0.1/history.jsonl >running/history.jsonl  # the third line cut short, no newline

"$TRAINER" report runs/lr_0.1 runs/lr_0.01 runs/single running >out.txt 2>err.txt \
  && pass || fail "report of four runs failed: $(cat err.txt)"
grep -q "^wrote report.html (4 runs, 9 epochs)" out.txt && pass || fail "stdout: $(cat out.txt)"
grep -q "^warning: running/history.jsonl:3: incomplete last line skipped" err.txt \
  && pass || fail "stderr: $(cat err.txt)"
[[ -s report.html ]] && pass || fail "no ./report.html for several runs"
"$TRAINER" report runs/single/ >single_out.txt && [[ -s runs/single/report.html ]] \
  && grep -q "^wrote runs/single/report.html" single_out.txt && pass || fail "one run: not RUN_DIR/report.html"

# Same last component twice: told apart by the parent folder. A name with
# markup in it must come out escaped.
mkdir -p other 'odd/<b>&"x'"'"
cp -r runs/lr_0.1 other/lr_0.1
cp runs/single/config.pbtxt runs/single/history.jsonl 'odd/<b>&"x'"'"/
"$TRAINER" report runs/lr_0.1 other/lr_0.1 'odd/<b>&"x'"'" --output names.html >/dev/null \
  && pass || fail "report with duplicate and odd names"

"$PYTHON" - report.html runs/lr_0.1 runs/lr_0.01 runs/single running <<'PY' && pass || fail "report.html contents"
import html.parser, json, re, sys, xml.etree.ElementTree as ET
page = open(sys.argv[1], encoding="utf-8").read()
runs = {d.rstrip("/").split("/")[-1]: d for d in sys.argv[2:]}
SVG = "{http://www.w3.org/2000/svg}"

def history(d):
    text = open(d + "/history.jsonl").read()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # the line being written
    return [json.loads(l) for l in lines if l.strip()]

html.parser.HTMLParser().feed(page)
assert "<script" not in page.lower(), "the page has a script"
assert not re.search(r"(?:src|href)\s*=|url\(|@import|https?://(?!www\.w3\.org/2000/svg)", page), "the page fetches"
svgs = [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", page, re.S)]
ids = [s.get("id") for s in svgs]
assert ids == ["chart-loss", "chart-accuracy", "chart-learning-rate", "chart-throughput"], ids

def mapping(svg, axis):  # pixel = a * value + b from two ticks; every tick on that line
    ticks = [(float(t.get("data-value")), float(t.get("data-" + axis)))
             for t in svg.iter(SVG + "g") if t.get("class") == axis + "tick"]
    assert len(ticks) >= 2 or (axis == "x" and len(ticks) == 1), (axis, ticks)
    if len(ticks) == 1:
        return None
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    a = (p1 - p0) / (v1 - v0)
    for v, p in ticks:
        assert abs(a * v + p0 - a * v0 - p) < 0.11, ("tick off the line", axis, v, p)
    return lambda v: p0 + a * (v - v0)

plotted = {}
fields = {"chart-loss": ["loss", "val_loss"], "chart-accuracy": ["accuracy", "val_accuracy"],
          "chart-learning-rate": ["learning_rate"], "chart-throughput": ["samples_per_second"]}
for svg in svgs:
    px, py = mapping(svg, "x"), mapping(svg, "y")
    labels = [t.text for t in svg.iter(SVG + "text")]
    assert "epoch" in labels, labels
    legend = [t.text for g in svg.iter(SVG + "g") if g.get("class") == "legend" for t in g.iter(SVG + "text")]
    assert set(runs) <= set(legend), legend
    colours = {}
    for g in svg.iter(SVG + "g"):
        if g.get("class") != "series":
            continue
        run, field = g.get("data-run"), g.get("data-field")
        assert field in fields[svg.get("id")], (svg.get("id"), field)
        line = g.find(SVG + "polyline")
        assert (line.get("stroke-dasharray") is not None) == field.startswith("val_"), "dashes: " + field
        assert colours.setdefault(run, line.get("stroke")) == line.get("stroke"), "colour of " + run
        for c in g.iter(SVG + "circle"):
            epoch, value = int(c.get("data-epoch")), float(c.get("data-value"))
            plotted[(run, field, epoch)] = value
            assert c.find(SVG + "title") is not None
            if px:
                assert abs(px(epoch) - float(c.get("cx"))) < 0.11, ("x of", run, field, epoch)
            assert abs(py(value) - float(c.get("cy"))) < 0.11, ("y of", run, field, epoch, value, c.get("cy"))
    assert len(set(colours.values())) == len(colours), ("runs share a colour", colours)
expected = {}
for name, d in runs.items():
    for rec in history(d):
        for chart in fields.values():
            for f in chart:
                expected[(name, f, rec["epoch"])] = rec[f]
assert set(plotted) == set(expected), sorted(set(plotted) ^ set(expected))[:10]
bad = [k for k in expected if plotted[k] != expected[k]]
assert not bad, [(k, plotted[k], expected[k]) for k in bad[:5]]
assert len([k for k in plotted if k[0] == "running"]) == 2 * 6, "the partial line was plotted"
assert len([k for k in plotted if k[0] == "single"]) == 6

# Tables: the differing fields (not run_dir), final and best with their epochs.
diff = page[page.index("<h2>Config differences</h2>"):page.index("<h2>Runs</h2>")]
rows = re.findall(r'<tr><td class="path"><code>([^<]*)</code>', diff)
assert rows == ["optimizer.sgd.learning_rate", "epochs"], rows
h = history(runs["lr_0.01"])
best = min(h, key=lambda r: (r["val_loss"], r["epoch"]))
cell = re.search(r'<tr data-run="lr_0.01">.*?data-field="val_loss" data-kind="best">'
                 r'([^<]*) <span class="ep">epoch (\d+)<', page).groups()
assert cell == ("%.4f" % best["val_loss"], str(best["epoch"])), (cell, best)
assert "incomplete line 3 skipped" in page
print("report.html: %d points match history.jsonl" % len(plotted))
PY

"$PYTHON" - names.html <<'PY' && pass || fail "names.html: duplicate names or escaping"
import re, sys, xml.etree.ElementTree as ET
page = open(sys.argv[1], encoding="utf-8").read()
for s in re.findall(r"<svg\b.*?</svg>", page, re.S):
    ET.fromstring(s)
assert "<b>" not in page and '&lt;b&gt;&amp;&quot;x&#39;' in page, "the odd name is not escaped"
runs = re.findall(r'<tr data-run="([^"]*)">', page)
assert runs == ["runs/lr_0.1", "other/lr_0.1", "&lt;b&gt;&amp;&quot;x&#39;"], runs
PY

# A sweep's runs share their last folder: every run gets the same number of
# parents, not only the ones that still collide.
mkdir -p sweep/before/lr4 sweep/after/lr2 sweep/none/lr2
for d in sweep/before/lr4 sweep/after/lr2 sweep/none/lr2; do cp -r runs/lr_0.1 $d/s1; done
"$TRAINER" report sweep/before/lr4/s1 sweep/after/lr2/s1 sweep/none/lr2/s1 --output sweep.html >/dev/null
runs=$(grep -o '<tr data-run="[^"]*">' sweep.html | sed 's/.*="\(.*\)">/\1/' | paste -sd' ')
[[ $runs == "before/lr4/s1 after/lr2/s1 none/lr2/s1" ]] && pass || fail "sweep names: $runs"

# ---- errors: one line, exit 2, never a crash ----
expect_error 2 "nope: no such run directory" -- "$TRAINER" report runs/lr_0.1 nope
expect_error 2 "needs at least one argument" -- "$TRAINER" report
expect_error 2 "history.jsonl: not found" -- "$TRAINER" report other
cp -r runs/lr_0.1 garbled
sed -i '2s/.*/{"epoch": 2, "loss": oops}/' garbled/history.jsonl
expect_error 2 "garbled/history.jsonl:2: not a JSON object" -- "$TRAINER" report garbled
sed -i '2s/.*/this is not json/' garbled/history.jsonl
expect_error 2 "garbled/history.jsonl:2: " -- "$TRAINER" report runs/lr_0.1 garbled
[[ $(wc -l <"$WORK/err.txt") -eq 1 ]] && pass || fail "error is not one line: $(cat "$WORK/err.txt")"
printf '{"loss": 0.5}\n' >garbled/history.jsonl
expect_error 2 "garbled/history.jsonl:1: no numeric \"epoch\"" -- "$TRAINER" report garbled
echo 'model { nonsense: 1 }' >runs/single/config.pbtxt
expect_error 2 "runs/single/config.pbtxt:1:" -- "$TRAINER" report runs/single

# ---- headless Chromium renders it (not blank: text, grid and the runs' colours) ----
chromium_bin=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chromium_bin ]]; then
  fail "chromium is not installed (launch/setup.sh installs it)"
else
  profile=$(mktemp -d)
  timeout 180 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile" \
    --window-size=1280,1600 --screenshot="$WORK/shot.png" "file://$WORK/report.html" >chromium.log 2>&1 || true
  rm -rf "$profile"
  [[ -s shot.png ]] && pass || fail "no screenshot: $(tail -5 chromium.log)"
  "$PYTHON" - shot.png <<'PY' && pass || fail "the screenshot looks blank"
import collections, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = {2: 3, 6: 4}[ctype]
stride, raw = w * bpp, zlib.decompress(idat)
prev, pixels, i = bytearray(stride), collections.Counter(), 0
for y in range(h):  # undo the PNG row filters
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    if f == 1:
        for x in range(bpp, stride): line[x] = (line[x] + line[x - bpp]) & 255
    elif f == 2:
        line = bytearray((u + v) & 255 for u, v in zip(line, prev))
    elif f == 3:
        for x in range(stride): line[x] = (line[x] + (((line[x - bpp] if x >= bpp else 0) + prev[x]) >> 1)) & 255
    elif f == 4:
        for x in range(stride):
            a, b, c = (line[x - bpp] if x >= bpp else 0), prev[x], (prev[x - bpp] if x >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    pixels.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp))
    prev = line
total = w * h
white = pixels[b"\xff\xff\xff"]
blue, orange, green = pixels[bytes([0, 114, 178])], pixels[bytes([230, 159, 0])], pixels[bytes([0, 158, 115])]
print("screenshot %dx%d: %d colours, %.1f%% not white, run colours %d/%d/%d px" %
      (w, h, len(pixels), 100.0 * (total - white) / total, blue, orange, green))
assert (w, h) == (1280, 1600), (w, h)
assert len(pixels) > 50, "too few colours"
assert 0.03 < (total - white) / total < 0.9, "blank or flooded"
assert min(blue, orange, green) > 100, "the runs' curves are not drawn"
PY
fi
finish
