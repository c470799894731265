"""Motion data: quaternions, the 263/251-dim features, BVH, retargeting and rendering."""
