"""The Redis channel layer, bounded like every other Redis client of the site."""

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer


class RedisChannelLayer(_RedisChannelLayer):
    # A socket's receive loop blocks on BZPOPMIN for this long; it must stay below the read
    # timeout (GOLDBOOK_REDIS_TIMEOUT, 2 s) every Redis connection gets, or an idle socket's
    # wait would end in a timeout error instead of an empty answer. channels-redis waits 5 s.
    brpop_timeout = 1
