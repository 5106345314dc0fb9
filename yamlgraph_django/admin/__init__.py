"""The Django admin of yamlgraph_django: graphs and the sessions people manage.

Split by concern (the module passed ~400 lines): `graphs` (registered versions, reload
from disk), `sessions` (list and detail pages), `views` (the session page's buttons and
the Start session page), `actions` (bulk actions), `display` (escaped HTML helpers).
Everything that runs a graph or touches checkpoints goes through
`yamlgraph_django.services`.
"""

from django.contrib import admin

from yamlgraph_django.admin.graphs import GraphDefinitionAdmin
from yamlgraph_django.admin.questions import QuestionAdmin
from yamlgraph_django.admin.schedules import CronAdmin
from yamlgraph_django.admin.sessions import SessionAdmin
from yamlgraph_django.models import GraphDefinition, Question, Session
from yamlgraph_django.store_models import Cron

admin.site.register(GraphDefinition, GraphDefinitionAdmin)
admin.site.register(Session, SessionAdmin)
admin.site.register(Cron, CronAdmin)
admin.site.register(Question, QuestionAdmin)
# The index says how many questions wait for the user (unless the project has its own).
if admin.site.index_template is None:
    admin.site.index_template = "admin/yamlgraph_django/index.html"

__all__ = ["CronAdmin", "GraphDefinitionAdmin", "QuestionAdmin", "SessionAdmin"]
