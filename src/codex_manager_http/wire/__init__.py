"""The original Codex Manager's `/api` JSON shapes, in one place.

Each module holds one domain's request and response shapes (TypedDicts: Litestar validates
requests and documents both from them) and the functions that build its answers from what
the Manager returns: camelCase keys, the `status` envelope, the original's extra keys. A
route parses its input, makes one Manager call and returns one of these functions' results,
so the CLI's JSON output and a remote client can reuse the same shapes.

Nothing here calls the Manager or touches Litestar's request cycle; `common` has the
vocabularies and error bodies every domain shares.
"""
