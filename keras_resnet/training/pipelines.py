"""Batching, augmentation and normalisation of a `keras_resnet.training.sources.Source`.

Images are normalised per channel by the training set's mean and standard deviation (`statistics`, in [0, 1]
units). Training batches are augmented as in the papers:

- 32x32 images (`Small`): pad 4 pixels on each side and take a random 32x32 crop (He et al. 2015,
  arXiv:1512.03385, s4.2; zeros in normalised units, i.e. the mean image, or reflection with
  `pad_mode="reflect"`, as in Wide ResNet, Zagoruyko & Komodakis 2016, arXiv:1605.07146), then flip at random
  where a mirror image keeps its class.
- larger images (`Large`): a random-resized crop (8%-100% of the area, aspect ratio 3/4-4/3; Szegedy et al.
  2015, arXiv:1409.4842, as in torchvision) and a random flip. Evaluation resizes the shorter side to
  `image_size / 0.875` and takes the central crop.

No pipeline uses `Dataset.cache()`: an iterator that reads part of a cached set and is dropped can leave the
cache complete with only that part. Random ops are stateless, fed by `tf.data.Dataset.random`: with a seed,
order and augmentation are reproducible and still differ from epoch to epoch.
"""

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
PAD_MODES = ("constant", "reflect")
CROP_PADDING = 4
EVAL_CROP_FRACTION = 0.875  # 224 of 256
STATS_SAMPLE = 1024  # images that estimate mean/std of a streamed set


def normalize(images, mean, std):
    """`[0, 255]` images as float32, normalised by per-channel `mean` and `std` of [0, 1] units."""
    return (tf.cast(images, tf.float32) / 255.0 - mean) / std


def _normalized(mean, std):
    """`normalize` as a function of `(images, labels)` batches."""
    return lambda images, labels: (normalize(images, mean, std), labels)


def statistics(batches):
    """Per-channel mean and std, in [0, 1] units, of an iterable of uint8 batches."""
    total = squares = count = 0
    for images in batches:
        pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        total, squares, count = total + pixels.sum(0), squares + (pixels**2).sum(0), count + len(pixels)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0))
    return mean.astype(np.float32), np.maximum(std, 1 / 255).astype(np.float32)


def _seeds(seed):
    """Seeds for stateless random ops, one per example or batch: reproducible with `seed`, new in every epoch."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def flip(images, seed):
    """Mirrors each image of the batch left-right with probability 1/2."""
    flips = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed) < 0.5
    return tf.where(flips, tf.reverse(images, axis=[2]), images)


def pad_crop(images, seed, mode):
    """He et al. 2015's pad-and-crop, vectorised: each image of the batch cropped at its own random offset."""
    height, width, p = images.shape[1], images.shape[2], CROP_PADDING
    padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]], mode=mode.upper())
    offsets = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed, maxval=2 * p + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)
    cols = offsets[:, 1:] + tf.range(width)
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def one_hot(num_classes):
    """A function of `(images, labels)` that makes the labels float32 one-hot vectors."""
    return lambda images, labels: (images, tf.one_hot(labels, num_classes, dtype=tf.float32))


def encoded(batches, encode):
    """The evaluation batches with their labels encoded (one-hot), if `encode`."""
    return batches if encode is None else batches.map(encode, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def hook(encode, batch_transform, seed):
    """What is done to training batches of [0, 255] images before they are normalised, as a function of a
    batched dataset, or `None`: one-hot labels (`encode`), then `batch_transform` (see `data.load`)."""
    if encode is None and batch_transform is None:
        return None

    def apply(batch, seeds):
        images, labels = batch
        images = tf.cast(images, tf.float32)
        if encode is not None:
            images, labels = encode(images, labels)
        if batch_transform is not None:
            images, labels = batch_transform(images, labels, tf.ensure_shape(seeds, [2]))
        return images, labels

    # A seed stream of its own, so that the pipeline's crops and flips stay as without the hook.
    # Sequential: random layers that keep a state must see the batches in order.
    return lambda batches: tf.data.Dataset.zip(batches, _seeds(None if seed is None else seed + 1)).map(apply)


class Small:
    """32x32 images decoded once and held in memory."""

    def __init__(self, source):
        self.input_shape = tuple(source.train.element_spec[0].shape)

    def statistics(self, train):
        return statistics(images for images, _ in train.batch(4096).as_numpy_iterator())

    def train(self, examples, size, seed, augment, mirror, pad_mode, batch_size, mean, std, hook=None):
        def transform(batch, seeds):
            (images, labels), keys = batch, tf.random.experimental.stateless_split(seeds, 2)
            images = normalize(images, mean, std)
            if augment:
                images = pad_crop(images, keys[0], pad_mode)
                images = flip(images, keys[1]) if mirror else images
            return images, labels

        ds = examples.shuffle(max(size, 1), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
        ds = ds if hook is None else hook(ds)
        return tf.data.Dataset.zip(ds, _seeds(seed)).map(transform, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)

    def evaluation(self, examples, batch_size, mean, std):
        return examples.batch(batch_size).map(_normalized(mean, std), num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _decode(encoded_image):
    return tf.io.decode_image(encoded_image, channels=3, expand_animations=False)


class Large:
    """Encoded images of any size, decoded and cropped to `image_size` per example."""

    def __init__(self, image_size):
        self.size = image_size
        self.input_shape = (image_size, image_size, 3)

    def _central_crop(self, encoded_image, label):
        image = _decode(encoded_image)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        resized = tf.cast(tf.round(shape * (self.size / EVAL_CROP_FRACTION) / tf.reduce_min(shape)), tf.int32)
        image = tf.image.resize(image, resized, antialias=True)
        top, left = (resized[0] - self.size) // 2, (resized[1] - self.size) // 2
        image = image[top:top + self.size, left:left + self.size]
        return tf.saturate_cast(tf.round(image), tf.uint8), label

    def _random_resized_crop(self, example, seed):
        encoded_image, label = example
        image = _decode(encoded_image)
        begin, crop, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image), tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed, min_object_covered=0.0,
            aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
            use_image_if_no_bounding_boxes=True)
        image = tf.image.resize(tf.slice(image, begin, crop), (self.size, self.size), antialias=True)
        return image, label

    def statistics(self, train):
        sample = train.take(STATS_SAMPLE).map(self._central_crop, num_parallel_calls=AUTOTUNE).batch(256)
        return statistics(images for images, _ in sample.as_numpy_iterator())

    def train(self, examples, size, seed, augment, mirror, pad_mode, batch_size, mean, std, hook=None):
        ds = examples.shuffle(min(max(size, 1), 10_000), seed=seed, reshuffle_each_iteration=True)
        if augment:
            ds = tf.data.Dataset.zip(ds, _seeds(seed)).map(self._random_resized_crop, num_parallel_calls=AUTOTUNE)
        else:
            ds = ds.map(self._central_crop, num_parallel_calls=AUTOTUNE)

        def transform(batch, seed):
            images, labels = batch
            images = flip(images, seed) if augment and mirror else images
            return (images, labels) if hook else (normalize(images, mean, std), labels)

        ds = tf.data.Dataset.zip(ds.batch(batch_size), _seeds(seed)).map(transform, num_parallel_calls=AUTOTUNE)
        if hook is not None:
            ds = hook(ds).map(_normalized(mean, std), num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE)

    def evaluation(self, examples, batch_size, mean, std):
        ds = examples.map(self._central_crop, num_parallel_calls=AUTOTUNE)
        return ds.batch(batch_size).map(_normalized(mean, std), num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def sharded_by_example(ds):
    """Shards by example under multi-worker strategies: the sources are in-memory tensors or one
    tensorflow-datasets reader, not one file per worker."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
