from django.urls import path

from polls import views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/health", views.health, name="health"),
    path("api/questions", views.questions, name="questions"),
    path("api/questions/new", views.create_question, name="create-question"),
    path("api/questions/<int:question_id>/choices/<int:choice_id>/vote", views.vote, name="vote"),
]
