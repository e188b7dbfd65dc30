"""Write checkpoints/<name>.md from a checkpoint's own metadata and evaluate.py results.

    python -m spikecodec.training.model_card checkpoints/mu.pt eval-mu-default.json [more.json ...]

Every figure in a card comes from those files; the card quotes the commands that made them.
"""
from __future__ import annotations

import json
import os

from ..checkpoint import file_id, read_checkpoint

DESCRIPTIONS = {
    "free": "FREE variant (paper section 3): no sparsity pressure, events stored mostly dense.",
    "sparse": "SPARSE variant (paper figure 2B): context blocks around the bottleneck and the clipped "
              "sparsity loss, fine-tuned from `free` after shifting each unit's threshold to the target density.",
    "mu": "mu-SPARSE variant (paper section 5): a learned level embedding mu in 0..31 on both sides of the "
          "bottleneck, trained with |S - N*T*2^(-mu/4)|; the sender picks mu per clip.",
    "mu2": "mu-SPARSE with a phase-coherent decoder: `mu`'s encoder, frozen (the same events at the same "
           "rates), and its decoder fine-tuned to predict magnitudes that fast Griffin-Lim (8 iterations, started "
           "from the decoder's own phase) turns into coherent audio; digital silence is coded as no events and "
           "decodes to zeros.",
    "mu3": "mu-SPARSE, `mu2` trained further with its encoder unfrozen: new events (so new rates: 7-11 % "
           "above `mu2`'s at level 13 on the dev set), learned together with the phase-coherent decoder (fast Griffin-Lim "
           "in the training loop, log-magnitude, loudness and level-rate terms); digital silence is coded as no "
           "events and decodes to zeros.",
    "mu4": "mu-SPARSE, `mu3` trained on with the same recipe (encoder unfrozen, phase-coherent decoder, "
           "log-magnitude, loudness and level-rate terms; 5 800 steps), then 1 500 more with the encoder's input "
           "floor raised to 1e-3 (`input_floor`: an empty or quiet band no longer drags the level down); shipped "
           "with the floor at 2e-3, which measured level within 1 dB on both dev sets. New events, so new rates.",
    "mu5": "mu-SPARSE, `mu4` trained on for 17 400 more steps with the same recipe (encoder unfrozen, "
           "phase-coherent decoder, log-magnitude, loudness and level-rate terms) and the encoder's input floor "
           "at 2e-3 from the first step; shipped with a higher floor that keeps the level within 1 dB. New "
           "events, so new rates.",
    "mu6": "mu-SPARSE, `mu5` trained on for 15 000 more steps with the same recipe (encoder unfrozen, "
           "phase-coherent decoder, log-magnitude, loudness and level-rate terms) and the encoder's input floor "
           "at 3.5e-3 (the floor `mu5` shipped with) from the first step; shipped with the floor at 6e-3, which "
           "keeps the level within 1 dB on both dev sets, also at 44.1 kHz stereo. New events, so new rates.",
    "mu7": "mu-SPARSE, `mu6` trained on for 12 000 more steps with its recipe plus a chroma term (which pitch "
           "classes sound: `training/losses.py`, `chroma_distance`) and the encoder's input floor at 6e-3 (the "
           "floor `mu6` shipped with) from the first step; shipped with a higher floor that keeps the level within "
           "1 dB. New events, so new rates.",
    "mu8": "mu-SPARSE with a peak-locked phase: the phase comes from the decoder's magnitudes alone "
           "(`model/phase.py`, `peak_locked_phase`: each peak's frequency to a fraction of a bin, its phase advanced "
           "hop by hop and the bins around it locked to it), not from Griffin-Lim, which left low partials at bin "
           "centres (up to a semitone off below 200 Hz). `mu7`'s decoder was trained to it (encoder frozen), then "
           "encoder and decoder together, with `mu7`'s terms. New events, so new rates.",
    "mu9": "mu-SPARSE, `mu8` trained on for 9 000 steps with its recipe (encoder and decoder together, the "
           "peak-locked phase) and the chroma term at weight 10 (3 before): through that phase the term reaches each "
           "partial's frequency, which Griffin-Lim's phase had kept at bin centres; the encoder's input floor at "
           "1.2e-2 (the floor `mu8` shipped with) from the first step, shipped with 1.5e-2, which keeps the level "
           "within 1 dB. New events, so new rates.",
    "sparse4": "SPARSE with `mu8`'s peak-locked phase: `sparse`'s decoder first trained to that phase on its "
               "frozen encoder with the chroma, log-magnitude and loudness terms (`sparse-peaks`), then encoder and "
               "decoder together for 6 000 steps under `sparse`'s own rate term (target density 0.06) with the "
               "encoder's input floor raised to 1e-2; shipped with one Griffin-Lim iteration and the floor at "
               "1.5e-2, which keeps the level within 1 dB (also at 44.1 kHz stereo). New events, so new rates; "
               "`sparse` stays as it was.",
}


def input_label(r: dict) -> str:
    rate, channels = r.get("input_rate"), r.get("input_channels") or 1
    return "dev clip" if not rate else f"{rate / 1000:g} kHz, {channels} ch"


def eval_command(r: dict) -> str:
    cmd = f"python -m spikecodec.training.evaluate --model {r['model']}"
    for key, flag in (("level", "--level"), ("quality_floor", "--quality-floor"), ("target_kbps", "--target-kbps"),
                      ("input_rate", "--input-rate"), ("input_channels", "--input-channels")):
        if r.get(key) is not None:
            cmd += f" {flag} {r[key]}"
    if not any("visqol" in (v.get("scores") or {}) for v in r["sets"].values()):
        cmd += " --no-visqol"   # the run had no ViSQOL column: say so, or the command would not reproduce it
    return cmd


def card(ckpt_path: str, results: list[dict], notes: list[str] = ()) -> str:
    blob = read_checkpoint(ckpt_path)
    meta, cfg, name = blob["meta"], blob["config"], blob["name"]
    n_params = sum(v.numel() for v in blob["state_dict"].values())
    lines = [f"# Model card: `{name}`", "", DESCRIPTIONS.get(name, ""), "",
             f"- file: `{os.path.basename(ckpt_path)}`, {os.path.getsize(ckpt_path) / 1e6:.1f} MB (fp16), "
             f"model id `{file_id(ckpt_path)}`, {n_params / 1e6:.2f} M values",
             f"- training config: `{meta.get('config_name')}` (`spikecodec/training/configs.py`), "
             f"{meta.get('steps')} steps, {float(meta.get('train_seconds', 0)) / 60:.0f} min wall time "
             f"({meta.get('hardware')})",
             f"- data: `make data` corpus, hours per group: {meta.get('corpus_hours')}; nothing listed in the "
             "dev manifests or the held-out packages/folders (see `spikecodec/training/corpus.py`)",
             f"- last training batch: " + ", ".join(f"{k[6:]} {v}" for k, v in meta.items() if k.startswith("train_")
                                                    and k != "train_seconds"),
             "", "## Architecture (rebuilt from the config stored in the file)", "", "```", json.dumps(cfg, indent=1), "```",
             "", "## Measured on `../shared/eval/dev`", "",
             "Real file bit-rate (container included), quality from `shared/eval/score.py` (LMD, ViSQOL, MR-STFT, "
             "SI-SNR) and `shared/eval/fidelity.py` (level, onset r, chroma, fine LSD, note F1). Speeds are whole "
             "encode/decode calls through the bitstream on this 2-core CPU while other jobs ran, so they are lower bounds.", "",
             "| mode | input | set | kbps (min-max) | LMD | ViSQOL | MR-STFT | SI-SNR dB | level dB | onset r | chroma "
             "| fine LSD dB | note F1 | density | enc x RT | dec x RT |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        mode = ("level %s" % r["level"]) if r.get("level") is not None else \
            ("floor %s" % r["quality_floor"]) if r.get("quality_floor") is not None else \
            ("target %s kbps" % r["target_kbps"]) if r.get("target_kbps") is not None else "default"
        for s, v in r["sets"].items():
            sc = v["scores"] or {}
            vis = sc.get("visqol")
            fd = v.get("fidelity") or {}
            fmt = lambda k, f: (f % fd[k]) if k in fd else "-"   # noqa: E731
            lines.append(f"| {mode} | {input_label(r)} | {s} | {v['kbps_mean']:.2f} ({v['kbps_min']:.2f}-{v['kbps_max']:.2f}) | "
                         f"{sc.get('lmd', float('nan')):.3f} | {'%.2f' % vis if vis is not None else '-'} | "
                         f"{sc.get('mrstft', float('nan')):.3f} | {sc.get('si_snr', float('nan')):.1f} | "
                         f"{fmt('level_db', '%+.2f')} | {fmt('onset_r', '%.3f')} | {fmt('chroma', '%.3f')} | "
                         f"{fmt('fine_lsd', '%.2f')} | {fmt('note_f1', '%.3f')} | "
                         f"{v['density_mean']:.3f} | {v['encode_xrt']:.0f} | {v['decode_xrt']:.0f} |")
    lines += ["", "Commands:", "", "```"] + sorted({eval_command(r) for r in results}) + ["```", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def existing_notes(text: str) -> list[str]:
    """The bullet lines of a card's Notes section (a bullet may wrap onto indented lines)."""
    notes: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Notes"
        elif inside and line.startswith("- "):
            notes.append(line[2:])
        elif inside and line.startswith("  ") and notes:
            notes[-1] += " " + line.strip()
    return notes


def main(argv=None) -> None:
    import argparse
    ap = argparse.ArgumentParser(description="Write a model card beside a checkpoint.")
    ap.add_argument("checkpoint")
    ap.add_argument("results", nargs="+", help="evaluate.py --json outputs")
    ap.add_argument("--note", action="append", default=[], help="a line for the Notes section (repeatable)")
    ap.add_argument("--keep-notes", action="store_true", help="keep the Notes of the card being replaced, before --note lines")
    a = ap.parse_args(argv)
    results = [json.load(open(p)) for p in a.results]
    out = os.path.splitext(a.checkpoint)[0] + ".md"
    if a.keep_notes and os.path.exists(out):
        a.note = existing_notes(open(out).read()) + a.note
    with open(out, "w") as f:
        f.write(card(a.checkpoint, results, a.note))
    print(f"model_card: wrote {out}")


if __name__ == "__main__":
    main()
