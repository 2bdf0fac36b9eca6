"""The studio: a local web app to watch training, swipe through candidates and teach the model a taste."""
