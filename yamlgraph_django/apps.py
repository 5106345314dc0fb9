from django.apps import AppConfig


class YamlgraphConfig(AppConfig):
    name = "yamlgraph_django"
    label = "yamlgraph_django"
    verbose_name = "YAML graphs"
    default_auto_field = "django.db.models.BigAutoField"
