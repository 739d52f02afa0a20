# Sourced by infra/*/setup.sh: a venv is set up again only when its inputs change. The stamp holds the
# sha256 of the inputs (the setup script and its requirements, concatenated); scripts/doctor.mjs
# recomputes the worker's the same way to say whether its venv is current.

# stamp_hash FILE...: the sha256 of the files, concatenated
stamp_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

# stamp_current STAMP FILE...: true when STAMP holds the files' hash (nothing to do)
stamp_current() {
  local stamp=$1
  shift
  [[ -f "$stamp" && "$(cat "$stamp")" == "$(stamp_hash "$@")" ]]
}

# stamp_write STAMP FILE...: record that the venv now matches the files
stamp_write() {
  local stamp=$1
  shift
  stamp_hash "$@" > "$stamp"
}
