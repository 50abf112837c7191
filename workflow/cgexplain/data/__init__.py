"""File formats and frame choice: the CG dataset and trajectory, any trajectory for explain, published data, one frame sampler."""
