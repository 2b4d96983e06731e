"""kptr-lsp: the Linux BPF verifier's verdict on the C line."""

__version__ = "0.1.0"
