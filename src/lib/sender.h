/* sender.h: not written yet */
