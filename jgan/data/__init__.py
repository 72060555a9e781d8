"""Input data: TFDS datasets (the bundled digits included), folders of images, one pipeline for all."""
