/* receiver.h: not written yet */
