"""Steps on images: image-centric fetching (URLs partitioned by host, fetched once, joined back)
and what surrounds CLIP scoring in the pairs job."""
