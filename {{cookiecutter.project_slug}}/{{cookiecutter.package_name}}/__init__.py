"""{{ cookiecutter.project_name }}: train, export, serve and load-test a Keras CTR model."""

__version__ = "0.1.0"
