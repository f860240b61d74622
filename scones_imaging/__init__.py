"""Image bytes -> a safe, decoded, upright RGB picture, the same way for uploads and for the model.

Torch-free (Pillow only), so it is bundled both into the serialize function's asset and into the
SageMaker source directory: an upload and an endpoint request go through the same steps and the
same limits (`scones_contracts.images`), and are refused with the same reason codes.

    formats   magic-number sniffing, the format names Pillow reads, what an unknown file looks like
    decode    `decode_image`: size limit, format check, header parse, pixel limit, memory budget,
              full decode; `ImageRejected` (reason code + printable-ASCII reason) for anything unusable
    diagnose  why a PNG/JPEG/WebP does not decode, from its own structure, in plain words
    memory    what decoding a picture will cost, from its header
    rgb       `upright_rgb`: EXIF orientation applied, transparency composited onto white, RGB;
              optionally reduced tile by tile first (no full-size copies)
"""
