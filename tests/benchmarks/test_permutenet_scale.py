"""The PermuteNet scale benchmark's canvases put each image in its cell."""

def test_permutenet_scale_canvases_put_each_image_in_its_cell():
    import numpy as np

    from benchmarks import permutenet_scale as scale

    images = np.arange(4 * 2 * 3 * 1, dtype=np.float32).reshape(4, 2, 3, 1) + 1.0
    cells = np.array([0, 4, 8, 5])
    flips = np.array([False, True, False, False])
    canvas = scale.canvases(images, cells, flips)
    assert canvas.shape == (4, 6, 9, 1)
    for i, cell in enumerate(cells):
        row, col = divmod(int(cell), 3)
        tile = canvas[i, 2 * row:2 * row + 2, 3 * col:3 * col + 3]
        expected = images[i, :, ::-1] if flips[i] else images[i]
        np.testing.assert_array_equal(tile, expected)
        # Everything outside the cell is the zero (dataset-mean) background.
        assert canvas[i].sum() == expected.sum()
    placed, labels = scale.every_cell(images[:2], np.array([7, 3]), "location")
    assert placed.shape[0] == 18 and labels.tolist() == list(range(9)) * 2
    _, labels = scale.every_cell(images[:2], np.array([7, 3]), "class")
    assert labels.tolist() == [7] * 9 + [3] * 9
