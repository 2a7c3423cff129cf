"""The loopml version (one place: the package, the CLI and model manifests read it)."""

VERSION = "0.1.0"
