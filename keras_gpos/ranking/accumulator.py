"""Running flip statistics of a layer's pooled output, shared by the ranking and the audit.

For each image `z` is the layer's globally average-pooled output and
`z_flip` that of its mirror image. The sums stream over batches, so memory
stays flat however many images there are.
"""

import numpy as np


class FlipAccumulator:
    """Sums of `|z - z_flip|`, `z - z_flip` and `z` over images, per channel.

    Attributes:
        count: int. Images added so far.
    """

    def __init__(self):
        self._sums = None
        self.count = 0

    def add(self, z, z_flip):
        """Adds a batch: `z` and `z_flip` are `(batch, channels)` pooled outputs."""
        z = np.asarray(z, np.float64)
        difference = z - np.asarray(z_flip, np.float64)
        if self._sums is None:
            self._sums = [np.zeros(z.shape[1]) for _ in range(3)]
        self._sums[0] += np.abs(difference).sum(0)
        self._sums[1] += difference.sum(0)
        self._sums[2] += z.sum(0)
        self.count += z.shape[0]

    def _mean(self, index):
        if not self.count:
            raise ValueError("no images were added to the flip accumulator.")
        return self._sums[index] / self.count

    @property
    def overall(self):
        """Mean `|z - z_flip|` per channel: how much a channel moves under the flip."""
        return self._mean(0)

    @property
    def signed(self):
        """Mean `z - z_flip` per channel: its sign says which side the channel prefers."""
        return self._mean(1)

    @property
    def channel_mean(self):
        """Mean pooled activation `z` per channel, of the un-flipped images."""
        return self._mean(2)
