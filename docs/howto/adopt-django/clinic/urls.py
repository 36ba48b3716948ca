from django.urls import path

from clinic.visits.views import book_visit

urlpatterns = [path("visits/", book_visit)]
