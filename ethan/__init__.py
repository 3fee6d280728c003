"""ethan: geolocate photos with vision-language models."""
