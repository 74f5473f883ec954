/* stream.h: not written yet */
