// Public entry point of the l2lb package; re-exports the stable API.
export {};
