"""Target kernels other than the running one: fetched, booted in a small VM, asked to verify."""
