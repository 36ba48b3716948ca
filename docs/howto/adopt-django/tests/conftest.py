pytest_plugins = ["aura.integrations.django.testing"]  # aura_platform: the project's platform
