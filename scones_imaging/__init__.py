"""Image bytes -> a safe, decoded, upright RGB picture, the same way for uploads and for the model.

Torch-free (Pillow only), so it is bundled both into the serialize function's asset and into the
SageMaker source directory: an upload and an endpoint request go through the same steps and the
same limits (`scones_contracts.images`), and are refused with the same reason codes.

    formats  magic-number sniffing and the format names Pillow reads
    decode   `decode_image`: size limit, format check, header parse, pixel limit, full decode;
             `ImageRejected` (reason code + printable-ASCII reason) for anything unusable
    rgb      `upright_rgb`: EXIF orientation applied, transparency composited onto white, RGB
"""
